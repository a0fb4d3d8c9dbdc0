package main

import (
	"context"
	"fmt"
	"io"
)

// runWorker implements "folio worker". (placeholder until its issue lands)
func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "folio worker: not built yet")
	return exitFailed
}
