// Package faults proves folio's delivery guarantees against real processes:
// its tests run an external nats-server (single node and a 3-node cluster),
// several "folio worker" processes and a "folio api" process, kill and
// restart them while a few hundred jobs flow, and check that every job ends
// done or failed for its own reason and that every Binary reads back intact.
//
// Run it with `go test ./faults -v` (CI mode, about a minute when nothing
// is wrong) or with FOLIO_SOAK=1 (and FOLIO_SOAK_DURATION, 10m by default;
// give go test a -timeout above it) for a soak run that repeats the faults
// in rounds for the whole duration. FOLIO_FAULTS_RACE=1 builds the child
// processes with -race. When a test fails, every child's whole log is kept
// in $TMPDIR/folio-faults-logs/<test>/. docs/RELIABILITY.md holds the
// measured figures.
package faults
