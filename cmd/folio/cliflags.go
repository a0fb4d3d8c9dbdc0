package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// parseArgs parses args into fs, allowing flags after positional arguments
// (`folio render fixtures/ -o out/`), then fills every flag not given on
// the command line from its environment variable: FOLIO_ + the flag name in
// capitals with dashes as underscores (--nats-url <- FOLIO_NATS_URL).
// It returns the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := envName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %v", env, v, e)
			}
		}
	})
	return pos, err
}

// envName returns the environment variable that sets a flag.
func envName(flagName string) string {
	return "FOLIO_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}
