package main

import (
	"context"
	"fmt"
	"io"
)

// runSubmit implements "folio submit". (placeholder until its issue lands)
func runSubmit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "folio submit: not built yet")
	return exitFailed
}
