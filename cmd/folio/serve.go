package main

import (
	"context"
	"fmt"
	"io"
)

// runServe implements "folio serve". (placeholder until its issue lands)
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "folio serve: not built yet")
	return exitFailed
}
