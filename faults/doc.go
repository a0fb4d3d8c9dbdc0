// Package faults proves folio's delivery guarantees against real processes:
// its tests run an external nats-server (single node and a 3-node cluster),
// several "folio worker" processes and a "folio api" process, kill and
// restart them while a few hundred jobs flow, and check that every job ends
// done or failed for its own reason and that every Binary reads back intact.
//
// Run it with `go test ./faults -v` (CI mode, a few minutes) or with
// FOLIO_SOAK=1 (and optionally FOLIO_SOAK_DURATION=10m) for a soak run that
// repeats the faults for the whole duration. docs/RELIABILITY.md holds the
// measured figures.
package faults
