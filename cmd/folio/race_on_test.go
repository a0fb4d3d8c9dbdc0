//go:build race

package main

// raceBuild is true when the tests run with -race; the e2e tests then build
// the folio binary with -race too, so data races in serve fail them.
const raceBuild = true
