package main

import (
	"context"
	"fmt"
	"io"
)

// runToken implements "folio token". (placeholder until its issue lands)
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "folio token: not built yet")
	return exitFailed
}
