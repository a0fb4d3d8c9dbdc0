package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones also where the machine has no zoneinfo

	"github.com/disintegration/imaging"

	"github.com/foliohealth/folio/report"
)

// file is the profile JSON as written, in the contract's field order; it is
// also the canonical form the digest is taken over.
type file struct {
	Schema               string          `json:"schema"`
	ID                   string          `json:"id"`
	Default              bool            `json:"default,omitempty"`
	Match                *Match          `json:"match,omitempty"`
	Paper                string          `json:"paper,omitempty"`
	Language             string          `json:"language,omitempty"`
	TimeZone             string          `json:"timeZone,omitempty"`
	Dates                string          `json:"dates,omitempty"`
	Letterhead           *fileLetterhead `json:"letterhead,omitempty"`
	Laboratory           *fileLab        `json:"laboratory,omitempty"`
	Accent               string          `json:"accent,omitempty"`
	ClosingNote          string          `json:"closingNote,omitempty"`
	PreliminaryWatermark bool            `json:"preliminaryWatermark,omitempty"`
	Signature            *fileSignature  `json:"signature,omitempty"`
}

type fileLetterhead struct {
	Logo  string   `json:"logo,omitempty"`
	Lines []string `json:"lines,omitempty"`
	Align string   `json:"align,omitempty"`
}

type fileLab struct {
	Name     string   `json:"name,omitempty"`
	Address  []string `json:"address,omitempty"`
	Phone    string   `json:"phone,omitempty"`
	Director string   `json:"director,omitempty"`
	IDs      []LabID  `json:"ids,omitempty"`
}

type fileSignature struct {
	Key          string `json:"key"`
	Certificates string `json:"certificates"`
	Reason       string `json:"reason,omitempty"`
	Location     string `json:"location,omitempty"`
}

// fieldsOf lists the JSON names each object of a profile may carry.
var fieldsOf = map[string][]string{
	"":           {"schema", "id", "default", "match", "paper", "language", "timeZone", "dates", "letterhead", "laboratory", "accent", "closingNote", "preliminaryWatermark", "signature"},
	"match":      {"facilities", "hl7SendingFacilities", "organizations"},
	"letterhead": {"logo", "lines", "align"},
	"laboratory": {"name", "address", "phone", "director", "ids"},
	"signature":  {"key", "certificates", "reason", "location"},
	"ids":        {"label", "value"},
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9.-]{1,64}$`)

// Load reads and checks the profile file at path; a logo and key path in
// it are relative to the file's directory. A refused profile gives an
// Errors naming each field.
func Load(path string) (*Profile, error) {
	data, err := readFile(os.DirFS(filepath.Dir(path)), filepath.Base(path), maxFileBytes)
	if err != nil {
		return nil, Errors{{Path: "$", Rule: err.Error()}}
	}
	p, err := Parse(data, filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	p.File = path
	return p, nil
}

// Parse checks a profile's JSON; dir is where its logo and key files are.
func Parse(data []byte, dir string) (*Profile, error) {
	return ParseFS(data, os.DirFS(dir))
}

// ParseFS checks a profile's JSON whose logo and key files are in fsys
// (a profile set kept in NATS, say).
func ParseFS(data []byte, fsys fs.FS) (*Profile, error) {
	c := &checker{fsys: fsys}
	var f file
	c.strict(data, "", "")
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, Errors{{Path: "$", Rule: "not a profile: " + err.Error()}}
	}
	p := c.check(&f)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	canon, err := json.Marshal(&f)
	if err != nil {
		return nil, Errors{{Path: "$", Rule: err.Error()}}
	}
	p.canonical = canon
	p.raw = append([]byte(nil), data...)
	p.files = c.files
	var logo []byte
	if p.Letterhead != nil {
		logo = p.Letterhead.LogoBytes
	}
	var chain [][]byte
	if p.Signature != nil {
		for _, cert := range p.Signature.Certificates {
			chain = append(chain, cert.Raw)
		}
	}
	p.Digest = digest(canon, logo, chain)
	return p, nil
}

type checker struct {
	fsys  fs.FS
	errs  Errors
	files map[string][]byte // the files read (logo, key, chain), by name
}

// read reads a file the profile names and keeps it for the profile's
// Bundle.
func (c *checker) read(name string, max int64) ([]byte, error) {
	data, err := readFile(c.fsys, name, max)
	if err == nil {
		if c.files == nil {
			c.files = map[string][]byte{}
		}
		c.files[name] = data
	}
	return data, err
}

func (c *checker) fail(path, format string, args ...any) {
	c.errs = append(c.errs, report.FieldError{Path: path, Rule: fmt.Sprintf(format, args...)})
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// strict refuses unknown fields (and what is not an object where one is
// due) at every level, naming the field path.
func (c *checker) strict(data []byte, path, kind string) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		where := path
		if where == "" {
			where = "$"
		}
		c.fail(where, "must be a JSON object")
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(fieldsOf[kind], k) {
			c.fail(join(path, k), "unknown field (allowed: %s)", strings.Join(fieldsOf[kind], ", "))
			continue
		}
		v := m[k]
		switch k {
		case "match", "letterhead", "laboratory", "signature":
			if kind == "" {
				c.strict(v, join(path, k), k)
			}
		case "ids":
			var list []json.RawMessage
			if json.Unmarshal(v, &list) == nil {
				for i, e := range list {
					c.strict(e, fmt.Sprintf("%s[%d]", join(path, k), i), "ids")
				}
			}
		}
	}
	if len(c.errs) == 0 {
		// Types: let encoding/json say which field has the wrong type.
		var f file
		if kind == "" {
			if err := json.Unmarshal(data, &f); err != nil {
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					c.fail(te.Field, "must be a JSON %s, not %s", te.Type.Kind(), te.Value)
				} else {
					c.fail("$", "not a profile: %v", err)
				}
			}
		}
	}
}

// text checks one printed string.
func (c *checker) text(path, s string, max int) {
	if n := len([]rune(s)); n > max {
		c.fail(path, "%d characters: at most %d", n, max)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7F || r >= 0x80 && r < 0xA0 {
			c.fail(path, "control character %U not allowed", r)
			return
		}
	}
}

func (c *checker) list(path string, l []string, max int) {
	if len(l) > max {
		c.fail(path, "%d entries: at most %d", len(l), max)
	}
	for i, s := range l {
		p := fmt.Sprintf("%s[%d]", path, i)
		if strings.TrimSpace(s) == "" {
			c.fail(p, "must not be empty")
		}
		c.text(p, s, maxText)
	}
}

func (c *checker) check(f *file) *Profile {
	p := &Profile{ID: f.ID, Default: f.Default, Paper: "letter", Language: "en"}
	if f.Schema != Schema {
		c.fail("schema", "must be %q, not %q", Schema, f.Schema)
	}
	if !idPattern.MatchString(f.ID) {
		c.fail("id", "%q: 1 to 64 of A-Z a-z 0-9 - .", f.ID)
	}
	if f.Match != nil {
		c.list("match.facilities", f.Match.Facilities, maxList)
		c.list("match.hl7SendingFacilities", f.Match.HL7SendingFacilities, maxList)
		c.list("match.organizations", f.Match.Organizations, maxList)
		p.Match = *f.Match
	}
	switch f.Paper {
	case "", "letter":
	case "a4":
		p.Paper = "a4"
	default:
		c.fail("paper", "%q: must be letter or a4", f.Paper)
	}
	if f.Language != "" {
		if !slices.Contains(Languages, f.Language) {
			c.fail("language", "%q: folio speaks %s", f.Language, strings.Join(Languages, ", "))
		}
		p.Language = f.Language
	}
	if f.TimeZone != "" {
		loc, err := zone(f.TimeZone)
		if err != nil {
			c.fail("timeZone", "%q: not an IANA time zone (like Europe/Berlin)", f.TimeZone)
		}
		p.Zone = loc
	}
	switch f.Dates {
	case "", "locale":
	case "iso":
		p.ISODates = true
	default:
		c.fail("dates", "%q: must be locale or iso", f.Dates)
	}
	if lh := f.Letterhead; lh != nil {
		p.Letterhead = c.letterhead(lh)
	}
	if lab := f.Laboratory; lab != nil {
		if strings.TrimSpace(lab.Name) == "" {
			c.fail("laboratory.name", "required: the performing laboratory's name")
		}
		c.text("laboratory.name", lab.Name, maxText)
		c.list("laboratory.address", lab.Address, MaxLines)
		c.text("laboratory.phone", lab.Phone, maxText)
		c.text("laboratory.director", lab.Director, maxText)
		if len(lab.IDs) > MaxLines {
			c.fail("laboratory.ids", "%d entries: at most %d", len(lab.IDs), MaxLines)
		}
		for i, id := range lab.IDs {
			for _, kv := range [][2]string{{"label", id.Label}, {"value", id.Value}} {
				path := fmt.Sprintf("laboratory.ids[%d].%s", i, kv[0])
				if strings.TrimSpace(kv[1]) == "" {
					c.fail(path, "required")
				}
				c.text(path, kv[1], maxText)
			}
		}
		p.Laboratory = &Laboratory{Name: lab.Name, Address: lab.Address, Phone: lab.Phone, Director: lab.Director, IDs: lab.IDs}
	}
	if f.Accent != "" {
		rgb, ok := parseRGB(f.Accent)
		switch {
		case !ok:
			c.fail("accent", "%q: must be #RRGGBB", f.Accent)
		case Contrast(rgb, RGB{255, 255, 255}) < minContrast:
			c.fail("accent", "%s has a contrast of %.2f:1 on white: at least 4.5:1 is required (WCAG 2.1 AA)", f.Accent, Contrast(rgb, RGB{255, 255, 255}))
		default:
			p.Accent = &rgb
		}
	}
	c.text("closingNote", f.ClosingNote, MaxClosingNote)
	p.ClosingNote = f.ClosingNote
	p.PreliminaryWatermark = f.PreliminaryWatermark
	if s := f.Signature; s != nil {
		p.Signature = c.signature(s)
	}
	return p
}

// zone loads an IANA zone; "Local" and "" are not zones a profile may name.
func zone(name string) (*time.Location, error) {
	if name == "Local" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") {
		return nil, fmt.Errorf("not an IANA zone")
	}
	return time.LoadLocation(name)
}

func (c *checker) letterhead(lh *fileLetterhead) *Letterhead {
	out := &Letterhead{Lines: lh.Lines}
	if len(lh.Lines) > MaxLines {
		c.fail("letterhead.lines", "%d lines: at most %d", len(lh.Lines), MaxLines)
	}
	for i, s := range lh.Lines {
		c.text(fmt.Sprintf("letterhead.lines[%d]", i), s, maxText)
	}
	switch lh.Align {
	case "", "left":
	case "right":
		out.Right = true
	default:
		c.fail("letterhead.align", "%q: must be left or right", lh.Align)
	}
	if lh.Logo != "" {
		c.logo(lh.Logo, out)
	}
	return out
}

// logo reads, checks, decodes and flattens the letterhead's logo.
func (c *checker) logo(name string, out *Letterhead) {
	const path = "letterhead.logo"
	full, ok := c.rel(path, name)
	if !ok {
		return
	}
	data, err := c.read(full, MaxLogoBytes)
	if err != nil {
		c.fail(path, "%s: %v", name, err)
		return
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || format != "png" && format != "jpeg" {
		c.fail(path, "%s: not a PNG or JPEG image", name)
		return
	}
	if px := int64(cfg.Width) * int64(cfg.Height); px > MaxLogoPixels || cfg.Width <= 0 || cfg.Height <= 0 {
		c.fail(path, "%s: %dx%d pixels: at most %d pixels (4 MP)", name, cfg.Width, cfg.Height, MaxLogoPixels)
		return
	}
	var img image.Image
	if format == "png" {
		img, err = png.Decode(bytes.NewReader(data))
	} else {
		img, err = jpeg.Decode(bytes.NewReader(data))
	}
	if err != nil {
		c.fail(path, "%s: does not decode: %v", name, err)
		return
	}
	flat := flatten(img)
	if b := flat.Bounds(); b.Dx() > LogoMaxPixelsW || b.Dy() > LogoMaxPixelsH {
		scale := min(float64(LogoMaxPixelsW)/float64(b.Dx()), float64(LogoMaxPixelsH)/float64(b.Dy()))
		flat = flatten(imaging.Resize(flat, max(1, int(math.Round(float64(b.Dx())*scale))), max(1, int(math.Round(float64(b.Dy())*scale))), imaging.Lanczos))
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, flat); err != nil {
		c.fail(path, "%s: %v", name, err)
		return
	}
	out.Logo, out.LogoType, out.LogoBytes, out.LogoPNG = flat, "image/"+format, data, buf.Bytes()
}

// flatten draws img over white into an opaque RGBA image (PDF/A-1 allows no
// transparency).
func flatten(img image.Image) image.Image {
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Over)
	return dst
}

// rel checks a file name of the profile: relative to the profile file,
// beside it or below (no "..").
func (c *checker) rel(path, name string) (string, bool) {
	n := filepath.ToSlash(name)
	if filepath.IsAbs(name) || !fs.ValidPath(n) {
		c.fail(path, "%s: must be a file beside the profile file (or below it), relative to it", name)
		return "", false
	}
	return n, true
}

// readFile reads at most max bytes of a regular file, refusing a larger one
// without reading it all.
func readFile(fsys fs.FS, path string, max int64) ([]byte, error) {
	fh, err := fsys.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errors.New("no such file")
		}
		return nil, errors.Unwrap(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%d bytes: at most %d", st.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(fh, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("more than %d bytes", max)
	}
	return b, nil
}

func parseRGB(s string) (RGB, bool) {
	if len(s) != 7 || s[0] != '#' {
		return RGB{}, false
	}
	var v [3]uint8
	for i := range 3 {
		var n uint8
		for _, ch := range s[1+2*i : 3+2*i] {
			n <<= 4
			switch {
			case ch >= '0' && ch <= '9':
				n |= uint8(ch - '0')
			case ch >= 'a' && ch <= 'f':
				n |= uint8(ch-'a') + 10
			case ch >= 'A' && ch <= 'F':
				n |= uint8(ch-'A') + 10
			default:
				return RGB{}, false
			}
		}
		v[i] = n
	}
	return RGB{v[0], v[1], v[2]}, true
}

// Contrast is the WCAG 2.1 contrast ratio of two colours (1 to 21).
func Contrast(a, b RGB) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is WCAG 2.1's relative luminance of an sRGB colour.
func luminance(c RGB) float64 {
	ch := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.03928 { // WCAG 2.1's threshold
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(c.R) + 0.7152*ch(c.G) + 0.0722*ch(c.B)
}
