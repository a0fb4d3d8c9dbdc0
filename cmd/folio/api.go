package main

import (
	"context"
	"fmt"
	"io"
)

// runAPI implements "folio api". (placeholder until its issue lands)
func runAPI(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "folio api: not built yet")
	return exitFailed
}
