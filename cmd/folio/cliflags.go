package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
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

// parseFlags is parseArgs for a command: on --help it returns exitOK, on
// a bad flag it prints the error after the command's name (fs.Name()) on
// stderr and returns exitUsage; ok is false in both cases, and the
// command returns code.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (pos []string, code int, ok bool) {
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, exitOK, false
	}
	if err != nil {
		fmt.Fprintln(stderr, fs.Name()+":", err)
		return nil, exitUsage, false
	}
	return pos, exitOK, true
}

// parseInputs is parseFlags for a command that takes input files: usage is
// its usage line, printed with the flags when no file is named (exitUsage).
func parseInputs(fs *flag.FlagSet, args []string, stderr io.Writer, usage string) (paths []string, code int, ok bool) {
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	paths, code, ok = parseFlags(fs, args, stderr)
	if ok && len(paths) == 0 {
		fs.Usage()
		return nil, exitUsage, false
	}
	return paths, code, ok
}
