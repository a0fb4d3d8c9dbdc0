package main

import (
	"context"
	"fmt"
	"io"
)

// runRender implements "folio render". (placeholder until its issue lands)
func runRender(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "folio render: not built yet")
	return exitFailed
}
