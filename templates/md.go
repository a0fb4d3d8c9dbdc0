package templates

import "github.com/foliohealth/folio/doc"

// convertMarkdown turns a markdown body into blocks. Until package markdown
// lands it keeps the raw body as one paragraph so nothing is lost.
func convertMarkdown(src string) []doc.Block {
	return []doc.Block{doc.Paragraph{Text: doc.T(src)}}
}
