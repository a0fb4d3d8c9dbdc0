package hl7

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// TokenKind says what a Token of formatted text is.
type TokenKind int

// Token kinds of formatted text (FT, HL7 v2.5.1 section 2.7).
const (
	TokText         TokenKind = iota // Text: characters to print
	TokHighlightOn                   // \H\ start highlighting
	TokHighlightOff                  // \N\ normal text (end highlighting)
	TokBreak                         // \.br\ begin a new output line
	TokSkip                          // \.sp<N>\ end the line and skip N vertical spaces (N >= 1)
	TokIndent                        // \.in<±N>\ indent N spaces (relative when Sign is set)
	TokTempIndent                    // \.ti<±N>\ temporarily indent the next line N spaces
	TokCenter                        // \.ce\ end the line and centre the next one
	TokFillOn                        // \.fi\ fill (word wrap) from here
	TokFillOff                       // \.nf\ no fill: lines as sent
)

// Token is one piece of decoded formatted text.
type Token struct {
	Kind TokenKind
	Text string // TokText
	N    int    // TokSkip, TokIndent, TokTempIndent
	Sign byte   // TokIndent, TokTempIndent: '+', '-' or 0 (absolute)
}

// Text decodes a raw value to UTF-8 text: the delimiter escapes (\F\ \S\
// \T\ \R\ \E\ and \P\ for the truncation character) become their
// characters, \Xhh..\ becomes the bytes it spells (read in the message's
// character set; \X0D\, \X0A\ and \X0D0A\ are line breaks), highlighting
// (\H\ \N\) is dropped, \.br\ is a line break and \.sp N\ N+1 of them; other
// formatting commands are dropped. An escape sequence folio does not know
// (\Z..\ local escapes, a lone escape character) is kept as sent. The
// error names what is wrong; callers add the location.
func (m *Message) Text(raw []byte) (string, error) {
	if bytes.IndexByte(raw, m.Delims.Escape) < 0 {
		return m.decode(raw)
	}
	b, err := m.AppendText(nil, raw)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// AppendText appends the text of a raw value, decoded as Text decodes it,
// to dst; on error dst is returned as it was.
func (m *Message) AppendText(dst, raw []byte) ([]byte, error) {
	if bytes.IndexByte(raw, m.Delims.Escape) < 0 {
		return m.appendDecoded(dst, raw)
	}
	toks, err := m.Formatted(raw)
	if err != nil {
		return dst, err
	}
	b := dst
	for _, t := range toks {
		switch t.Kind {
		case TokText:
			b = append(b, t.Text...)
		case TokBreak, TokCenter:
			b = append(b, '\n')
		case TokSkip:
			for range t.N + 1 {
				b = append(b, '\n')
			}
		}
	}
	return b, nil
}

func (m *Message) text(v Value) string {
	t, _ := m.Text(v.Raw())
	return t
}

// maxSkip bounds \.sp N\ so a message cannot ask for a billion blank lines.
const maxSkip = 100

// maxIndent bounds \.in\ and \.ti\.
const maxIndent = 80

// Formatted decodes a raw value as formatted text (FT) into tokens. Text
// tokens are decoded as Text describes; consecutive text is merged.
func (m *Message) Formatted(raw []byte) ([]Token, error) {
	d := m.Delims
	var toks []Token
	var buf []byte // undecoded bytes of the current text run
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		s, err := m.decode(buf)
		if err != nil {
			return err
		}
		buf = buf[:0]
		if n := len(toks); n > 0 && toks[n-1].Kind == TokText {
			toks[n-1].Text += s
		} else {
			toks = append(toks, Token{Kind: TokText, Text: s})
		}
		return nil
	}
	emit := func(t Token) error {
		if err := flush(); err != nil {
			return err
		}
		toks = append(toks, t)
		return nil
	}
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, d.Escape)
		if i < 0 {
			buf = append(buf, raw...)
			break
		}
		buf = append(buf, raw[:i]...)
		raw = raw[i+1:]
		j := bytes.IndexByte(raw, d.Escape)
		if j < 0 { // a lone escape character: kept as sent
			buf = append(buf, d.Escape)
			continue
		}
		seq := string(raw[:j])
		known := true
		switch {
		case seq == "F":
			buf = append(buf, d.Field)
		case seq == "S":
			buf = append(buf, d.Component)
		case seq == "T":
			buf = append(buf, d.Subcomponent)
		case seq == "R":
			buf = append(buf, d.Repetition)
		case seq == "E":
			buf = append(buf, d.Escape)
		case seq == "P" && d.Truncation != 0:
			buf = append(buf, d.Truncation)
		case seq == "H":
			if err := emit(Token{Kind: TokHighlightOn}); err != nil {
				return nil, err
			}
		case seq == "N":
			if err := emit(Token{Kind: TokHighlightOff}); err != nil {
				return nil, err
			}
		case len(seq) > 1 && seq[0] == 'X':
			hex := seq[1:]
			if len(hex)%2 != 0 {
				return nil, fmt.Errorf("escape \\%s\\: an odd number of hex digits", seq)
			}
			for k := 0; k < len(hex); k += 2 {
				v, err := strconv.ParseUint(hex[k:k+2], 16, 8)
				if err != nil {
					return nil, fmt.Errorf("escape \\%s\\: %q is not a hex byte", seq, hex[k:k+2])
				}
				switch c := byte(v); {
				case c == '\r' && k+2 < len(hex) && strings.EqualFold(hex[k+2:k+4], "0A"):
					// CR LF: one line break
				case c == '\r' || c == '\n':
					buf = append(buf, '\n')
				default:
					buf = append(buf, c)
				}
			}
		case len(seq) > 1 && (seq[0] == 'C' || seq[0] == 'M'):
			return nil, fmt.Errorf("escape \\%s\\ switches character set, which folio does not support", seq)
		case len(seq) > 1 && seq[0] == '.':
			t, ok, err := formatCommand(seq[1:])
			if err != nil {
				return nil, err
			}
			if !ok {
				known = false
				break
			}
			if err := emit(t); err != nil {
				return nil, err
			}
		default:
			known = false
		}
		if !known { // kept as sent, escape characters included
			buf = append(buf, d.Escape)
			buf = append(buf, raw[:j]...)
			buf = append(buf, d.Escape)
		}
		raw = raw[j+1:]
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return toks, nil
}

// formatCommand reads an FT formatting command without its dot.
func formatCommand(c string) (Token, bool, error) {
	num := func(s string, signed bool, def, max int) (int, byte, error) {
		s = strings.TrimSpace(s)
		var sign byte
		if signed && s != "" && (s[0] == '+' || s[0] == '-') {
			sign, s = s[0], s[1:]
		}
		if s == "" {
			return def, sign, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, 0, fmt.Errorf("formatting command \\.%s\\: %q is not a number", c, s)
		}
		if n > max {
			n = max
		}
		return n, sign, nil
	}
	switch {
	case c == "br":
		return Token{Kind: TokBreak}, true, nil
	case c == "fi":
		return Token{Kind: TokFillOn}, true, nil
	case c == "nf":
		return Token{Kind: TokFillOff}, true, nil
	case c == "ce":
		return Token{Kind: TokCenter}, true, nil
	case strings.HasPrefix(c, "sp"):
		n, _, err := num(c[2:], true, 1, maxSkip)
		return Token{Kind: TokSkip, N: n}, true, err
	case strings.HasPrefix(c, "in"):
		n, s, err := num(c[2:], true, 0, maxIndent)
		return Token{Kind: TokIndent, N: n, Sign: s}, true, err
	case strings.HasPrefix(c, "ti"):
		n, s, err := num(c[2:], true, 0, maxIndent)
		return Token{Kind: TokTempIndent, N: n, Sign: s}, true, err
	}
	return Token{}, false, nil
}
