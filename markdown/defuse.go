package markdown

// Goldmark's block parser does work proportional to the square of the number
// of containers open on a line, so a line of thousands of ">" or "- " markers,
// or lines indented thousands of columns inside nested lists, take seconds to
// parse. defuse bounds both before parsing, leaving ordinary markdown
// untouched.
const (
	// maxMarkers is how many container markers (">", "-", "+", "*", "1."
	// or "1)") at the start of a line may open containers. The marker after
	// them is escaped with a backslash, so it and the rest of the line are
	// printed as text.
	maxMarkers = 2 * MaxDepth
	// maxIndent is how many columns of white space the container prefix of
	// a line (the white space before, between and after its markers) may
	// hold; beyond it each run of white space there is cut to one
	// character. Lists nested by indentation are thereby at most about
	// maxIndent/2 + maxMarkers deep.
	maxIndent = 64
)

// defuse returns src with the container prefix of every line bounded by
// maxMarkers and maxIndent. It returns src itself when no line needs a
// change. No letter, digit or punctuation is removed.
func defuse(src []byte) []byte {
	var out []byte
	done := 0 // src[:done] has been copied to out
	changed := false
	for start := 0; start < len(src); {
		end := start
		for end < len(src) && src[end] != '\n' {
			end++
		}
		markers, cols := 0, 0
		i := start
	scan:
		for i < end {
			switch c := src[i]; {
			case c == ' ' || c == '\t':
				w := 1
				if c == '\t' {
					w = 4
				}
				if cols+w > maxIndent {
					// Keep one character of this white space run,
					// so that it still separates, and drop the rest.
					j := i + 1
					for j < end && (src[j] == ' ' || src[j] == '\t') {
						j++
					}
					if j > i+1 {
						out = append(out, src[done:i+1]...)
						done = j
						changed = true
					}
					cols += w
					i = j
					continue
				}
				cols += w
				i++
			default:
				n := markerLen(src[i:end])
				if n == 0 {
					break scan
				}
				if markers == maxMarkers {
					esc := i
					if c >= '0' && c <= '9' {
						esc = i + n - 1 // the "." or ")" after the digits
					}
					out = append(out, src[done:esc]...)
					out = append(out, '\\')
					done = esc
					changed = true
					break scan
				}
				markers++
				i += n
			}
		}
		start = end + 1
	}
	if !changed {
		return src
	}
	return append(out, src[done:]...)
}

// markerLen returns the length of the block quote or list marker at the
// start of line, or 0 if there is none.
func markerLen(line []byte) int {
	if len(line) == 0 {
		return 0
	}
	switch line[0] {
	case '>':
		return 1
	case '-', '+', '*':
		if len(line) == 1 || line[1] == ' ' || line[1] == '\t' {
			return 1
		}
		return 0
	}
	n := 0
	for n < len(line) && n < 9 && line[n] >= '0' && line[n] <= '9' {
		n++
	}
	if n == 0 || n == len(line) || (line[n] != '.' && line[n] != ')') {
		return 0
	}
	if n+1 == len(line) || line[n+1] == ' ' || line[n+1] == '\t' {
		return n + 1
	}
	return 0
}
