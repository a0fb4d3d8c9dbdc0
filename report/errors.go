package report

import "strings"

// FieldError is one problem of a refused report: the JSON path of the field
// (dotted JSON names with [i] indices, e.g. sections[2].items[0].value, or $
// for the whole document) and the rule it breaks.
type FieldError struct {
	Path string
	Rule string
}

// Error returns "path: rule".
func (e FieldError) Error() string { return e.Path + ": " + e.Rule }

// Errors is every problem of a refused report, in the order the decoder met
// them. Decode returns an Errors whenever it refuses a report; a refusal is
// permanent (the same input is refused again), so a queue must not retry it.
type Errors []FieldError

// Error returns one problem per line.
func (e Errors) Error() string {
	var b strings.Builder
	for i, fe := range e {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(fe.Error())
	}
	return b.String()
}
