//go:build !race

package loadtest

// raceBuild is true when the tests run with -race; the default load is then
// smaller, since the race detector slows rendering several times.
const raceBuild = false
