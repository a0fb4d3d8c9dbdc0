package report

// MaxVersion is the largest report version the contract accepts.
const MaxVersion = 999999999

// maxErrors bounds how many problems one refusal lists; a report with more
// gets a final "$: ..." line saying that more were left out.
const maxErrors = 100

// Limits bounds every client-controlled size and count in a report, so that
// a hostile or broken upstream system cannot make folio spend unbounded
// memory or time. A zero field means the default from DefaultLimits, so
// callers set only what they change. All byte counts are bytes of UTF-8
// (or, for images, of decoded image bytes), not characters.
type Limits struct {
	// MaxBytes bounds the whole report JSON, checked before parsing.
	MaxBytes int
	// MaxJSONDepth bounds nesting of JSON arrays and objects, checked while
	// parsing so that deep input cannot exhaust the stack or memory. It must
	// leave room for MaxSectionDepth (two levels per section level, plus
	// rows and cells).
	MaxJSONDepth int
	// MaxSectionDepth bounds how deeply sections nest (top-level sections
	// are level 1).
	MaxSectionDepth int
	// MaxSections bounds the number of sections at all levels together.
	MaxSections int
	// MaxImages bounds the number of image sections at all levels together.
	MaxImages int
	// MaxImageBytes bounds one image's decoded (not base64) bytes.
	MaxImageBytes int
	// MaxImagePixels bounds one image's width times height, read from the
	// image header before any pixel is decoded. There is no bound on the
	// pixels of all images together: rendering decodes one image at a time
	// and keeps only a copy at printed size, so their total costs time, not
	// memory (MaxImages x MaxImagePixels bounds that time).
	MaxImagePixels int64
	// MaxTextBytes bounds the bytes of all strings of the report together,
	// image data excepted.
	MaxTextBytes int
	// MaxStringBytes bounds any one string, image data excepted.
	MaxStringBytes int
	// MaxTableColumns bounds the columns of one table section.
	MaxTableColumns int
	// MaxTableRows bounds the rows of one table section.
	MaxTableRows int
	// MaxTableCells bounds rows times columns of one table section.
	MaxTableCells int
	// MaxItems bounds the items of one fields section.
	MaxItems int
	// MaxPerformers bounds the performers array.
	MaxPerformers int
	// MaxSpecimens bounds the specimens array.
	MaxSpecimens int
	// MaxAddenda bounds the addenda array.
	MaxAddenda int
}

// DefaultLimits returns the limits of the contract (report-v1.md "Limits and
// bad input") and folio's chosen bounds on every other count:
//
//	report JSON        16 MiB        JSON nesting          32 levels
//	images             20            image bytes           8 MiB each
//	image pixels       40 megapixels text, all strings     2 MiB
//	one string         1 MiB         section depth         3 levels
//	sections in all    1000          table columns         50
//	table rows         10000         table cells           50000 per table
//	fields items       1000          performers            50
//	specimens          200           addenda               100
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:        16 << 20,
		MaxJSONDepth:    32,
		MaxSectionDepth: 3,
		MaxSections:     1000,
		MaxImages:       20,
		MaxImageBytes:   8 << 20,
		MaxImagePixels:  40_000_000,
		MaxTextBytes:    2 << 20,
		MaxStringBytes:  1 << 20,
		MaxTableColumns: 50,
		MaxTableRows:    10000,
		MaxTableCells:   50000,
		MaxItems:        1000,
		MaxPerformers:   50,
		MaxSpecimens:    200,
		MaxAddenda:      100,
	}
}

// withDefaults returns l with every zero field replaced by its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&l.MaxBytes, d.MaxBytes)
	set(&l.MaxJSONDepth, d.MaxJSONDepth)
	set(&l.MaxSectionDepth, d.MaxSectionDepth)
	set(&l.MaxSections, d.MaxSections)
	set(&l.MaxImages, d.MaxImages)
	set(&l.MaxImageBytes, d.MaxImageBytes)
	if l.MaxImagePixels == 0 {
		l.MaxImagePixels = d.MaxImagePixels
	}
	set(&l.MaxTextBytes, d.MaxTextBytes)
	set(&l.MaxStringBytes, d.MaxStringBytes)
	set(&l.MaxTableColumns, d.MaxTableColumns)
	set(&l.MaxTableRows, d.MaxTableRows)
	set(&l.MaxTableCells, d.MaxTableCells)
	set(&l.MaxItems, d.MaxItems)
	set(&l.MaxPerformers, d.MaxPerformers)
	set(&l.MaxSpecimens, d.MaxSpecimens)
	set(&l.MaxAddenda, d.MaxAddenda)
	return l
}
