package store

import "testing"

// Hooks for the external tests (package store_test): the contract tests
// run against the Object Store and store/s3 alike.

// OpenTestStore is openTestStore: a Store on a fresh nats-server.
func OpenTestStore(t testing.TB) *Store { return openTestStore(t) }

// CorruptObject rewrites a stored object's chunks with data whose byte at
// is flipped, its info left as it was.
func CorruptObject(t *testing.T, s *Store, id string, data []byte, at int) {
	rewriteChunks(t, s, id, data, at)
}
