package profile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"path"
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
	// Files holds the files the profile names (its logo), by the name it
	// uses.
	Files map[string][]byte `json:"files,omitempty"`
}

// ErrSigningKey is returned by Bundle for a profile with a signing key: a
// private key is never put into NATS.
var ErrSigningKey = errors.New("profile: a profile with a signing key is not kept in NATS: its key stays on the signing machine's disk")

// Bundle returns the profile as a Bundle.
func (p *Profile) Bundle() (Bundle, error) {
	if p.Signature != nil {
		return Bundle{}, ErrSigningKey
	}
	b := Bundle{File: path.Base(p.File), JSON: append([]byte(nil), p.raw...)}
	if b.File == "." || b.File == "/" {
		b.File = p.ID + ".json"
	}
	if p.Letterhead != nil && p.logoName != "" {
		b.Files = map[string][]byte{p.logoName: p.Letterhead.LogoBytes}
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
