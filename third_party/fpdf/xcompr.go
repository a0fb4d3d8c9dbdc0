// Copyright ©2021 The go-pdf Authors. All rights reserved.
// Use of this source code is governed by a MIT-style
// license that can be found in the LICENSE file.

package fpdf

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"fmt"
	"sync"
)

var xmem = xmempool{
	Pool: sync.Pool{
		New: func() any {
			var m membuffer
			return &m
		},
	},
}

type xmempool struct{ sync.Pool }

// zwriters holds zlib writers for reuse: a new writer allocates about 1 MB
// of compressor state, more than most streams it compresses.
var zwriters = sync.Pool{
	New: func() any {
		zw, err := zlib.NewWriterLevel(nil, zlib.BestSpeed)
		if err != nil {
			panic(fmt.Errorf("could not create zlib writer: %w", err))
		}
		return zw
	},
}

func (pool *xmempool) compress(data []byte) *membuffer {
	mem := pool.Get().(*membuffer)
	buf := &mem.buf
	buf.Grow(len(data))

	zw := zwriters.Get().(*zlib.Writer)
	defer zwriters.Put(zw)
	zw.Reset(buf)
	_, err := zw.Write(data)
	if err != nil {
		panic(fmt.Errorf("could not zlib-compress slice: %w", err))
	}

	err = zw.Close()
	if err != nil {
		panic(fmt.Errorf("could not close zlib writer: %w", err))
	}
	return mem
}

func (pool *xmempool) uncompress(data []byte) (*membuffer, error) {
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}

	mem := pool.Get().(*membuffer)
	mem.buf.Reset()

	_, err = mem.buf.ReadFrom(zr)
	if err != nil {
		mem.release()
		return nil, err
	}

	return mem, nil
}

type membuffer struct {
	buf bytes.Buffer
}

func (mem *membuffer) bytes() []byte { return mem.buf.Bytes() }
func (mem *membuffer) release() {
	mem.buf.Reset()
	xmem.Put(mem)
}

func (mem *membuffer) copy() []byte {
	src := mem.bytes()
	dst := make([]byte, len(src))
	copy(dst, src)
	return dst
}

// shared holds what documents repeat and never change, computed once per
// process: the compressed form of streams such as ICC profiles and
// ToUnicode CMaps, and parsed font definitions. Keys are the input bytes.
// It is emptied when it holds more than sharedMax bytes.
var shared struct {
	sync.Mutex
	z    map[string][]byte
	defs map[string]fontDefType
	size int
}

const sharedMax = 8 << 20

func sharedAdd(n int) {
	shared.size += n
	if shared.size > sharedMax {
		shared.z, shared.defs, shared.size = nil, nil, n
	}
}

// compressShared returns data zlib-compressed, computing it once for the
// same bytes. The result must not be modified.
func compressShared(data []byte) []byte {
	shared.Lock()
	z, ok := shared.z[string(data)]
	shared.Unlock()
	if ok {
		return z
	}
	mem := xmem.compress(data)
	z = mem.copy()
	mem.release()
	shared.Lock()
	sharedAdd(2*len(data) + len(z))
	if shared.z == nil {
		shared.z = map[string][]byte{}
	}
	shared.z[string(data)] = z
	shared.Unlock()
	return z
}

// parseFontDef returns the font definition encoded in a JSON font file,
// with its font ID, parsing the same bytes once.
func parseFontDef(jsonFileBytes []byte) (fontDefType, error) {
	shared.Lock()
	def, ok := shared.defs[string(jsonFileBytes)]
	shared.Unlock()
	if ok {
		return def, nil
	}
	err := json.Unmarshal(jsonFileBytes, &def)
	if err != nil {
		return def, err
	}
	if def.i, err = generateFontID(def); err != nil {
		return def, err
	}
	shared.Lock()
	sharedAdd(3 * len(jsonFileBytes))
	if shared.defs == nil {
		shared.defs = map[string]fontDefType{}
	}
	shared.defs[string(jsonFileBytes)] = def
	shared.Unlock()
	return def, nil
}
