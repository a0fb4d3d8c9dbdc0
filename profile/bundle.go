package profile

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// Bundle is a profile with the files it names, as one value: what a
// deployment keeps in NATS so that every worker renders with the same
// profiles, whatever each machine's disk holds. JSON-encodable.
type Bundle struct {
	// File is the profile's file name (it orders the set).
	File string `json:"file"`
	// JSON is the profile file as written.
	JSON []byte `json:"json"`
	// Files holds the files the profile names (logo, signing key and
	// certificate chain), by the name it uses. It holds a private key:
	// never log or print a Bundle.
	Files map[string][]byte `json:"files,omitempty"`
}

// Bundle returns the profile as a Bundle: its file and every file it
// names as read, the signing key and chain included (a deployment's
// workers sign with it; only the admin and worker roles may read the
// bucket that keeps it, docs/SECURITY.md).
func (p *Profile) Bundle() (Bundle, error) {
	b := Bundle{File: path.Base(p.File), JSON: append([]byte(nil), p.raw...)}
	if b.File == "." || b.File == "/" || b.File == "" {
		b.File = p.ID + ".json"
	}
	if len(p.files) > 0 {
		b.Files = make(map[string][]byte, len(p.files))
		for k, v := range p.files {
			b.Files[k] = append([]byte(nil), v...)
		}
	}
	return b, nil
}

// LoadBundle checks a bundled profile exactly as Load checks a file.
func LoadBundle(b Bundle) (*Profile, error) {
	p, err := ParseFS(b.JSON, memFS(b.Files))
	if err != nil {
		return nil, err
	}
	p.File = b.File
	return p, nil
}

// memFS is a flat read-only file system of named byte slices.
type memFS map[string][]byte

func (m memFS) Open(name string) (fs.File, error) {
	data, ok := m[name]
	if !ok || !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{name: name, Reader: bytes.NewReader(data), size: int64(len(data))}, nil
}

type memFile struct {
	*bytes.Reader
	name string
	size int64
}

var _ io.Reader = (*memFile)(nil)

func (f *memFile) Stat() (fs.FileInfo, error) { return memInfo{f.name, f.size}, nil }
func (f *memFile) Close() error               { return nil }

type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return path.Base(i.name) }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o600 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }

// String describes the bundle without the bytes of its files (one of them
// may be a private key).
func (b Bundle) String() string {
	names := make([]string, 0, len(b.Files))
	for n := range b.Files {
		names = append(names, n)
	}
	slices.Sort(names)
	return fmt.Sprintf("profile bundle %s (%d bytes; files %s)", b.File, len(b.JSON), strings.Join(names, ", "))
}

// GoString is String: %#v must not print a key either.
func (b Bundle) GoString() string { return b.String() }
