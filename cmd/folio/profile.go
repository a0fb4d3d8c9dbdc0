package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/foliohealth/folio/broker"
	"github.com/foliohealth/folio/input"
	"github.com/foliohealth/folio/profile"
	"github.com/foliohealth/folio/report"
)

// runProfile implements "folio profile check FILE|DIR".
func runProfile(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintln(stderr, "usage: folio profile check FILE|DIR   (load and check site profiles, printing each id and digest)\n"+
			"       folio profile put [--nats-url URL] [--data DIR] DIR   (make the deployment's NATS hold exactly these profiles; admin role)")
	}
	if len(args) > 0 && args[0] == "put" {
		return runProfilePut(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			usage()
			return exitOK
		}
		usage()
		return exitUsage
	}
	fs := flag.NewFlagSet("folio profile check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usage
	paths, err := parseArgs(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(paths) != 1 {
		usage()
		return exitUsage
	}
	var set *profile.Set
	if isDir(paths[0]) {
		set, err = profile.LoadDir(paths[0])
	} else {
		set, err = loadProfiles(paths[0], "")
	}
	if err != nil {
		printProfileErr(stderr, "folio profile check: "+paths[0], err)
		return exitFailed
	}
	for _, p := range set.Profiles() {
		def := ""
		if p.Default {
			def = "  (default)"
		}
		fmt.Fprintf(stdout, "%s  %s%s\n", p.ID, p.Digest, def)
	}
	return exitOK
}

// loadProfiles loads --profile FILE (a set of one, chosen for every
// report) or --profiles DIR; neither gives a nil set: folio's built-in look.
func loadProfiles(file, dir string) (*profile.Set, error) {
	switch {
	case file != "" && dir != "":
		return nil, errors.New("--profile and --profiles: give one")
	case file != "":
		p, err := profile.Load(file)
		if err != nil {
			return nil, err
		}
		// The one profile given applies to every report, as if default.
		q := *p
		q.Default = true
		q.Match = profile.Match{}
		return profile.NewSet(&q)
	case dir != "":
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("--profiles %s: not a directory", dir)
		}
		return profile.LoadDir(dir)
	}
	return nil, nil
}

// printProfileErr prints a refused profile, one problem per line.
func printProfileErr(w io.Writer, prefix string, err error) {
	var es report.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			fmt.Fprintf(w, "%s: %s\n", prefix, e.Error())
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", prefix, err)
}

// subjectOf is what a mapped report offers for choosing its profile.
func subjectOf(d input.Doc) profile.Subject {
	s := profile.Subject{SendingFacility: d.SendingFacility, Organizations: d.Organizations}
	if d.Report != nil && d.Report.Facility != nil {
		s.Facility = d.Report.Facility.Name
	}
	return s
}

// runProfilePut implements "folio profile put DIR": the deployment's
// profile set in NATS becomes exactly DIR's (admin role).
func runProfilePut(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("folio profile put", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nf := addNATSFlags(fs, "nats://127.0.0.1:4222")
	data := fs.String("data", "./folio-data", "data directory of the folio serve whose embedded NATS server to use (its admin credentials)")
	paths, err := parseArgs(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(paths) != 1 || !isDir(paths[0]) {
		fmt.Fprintln(stderr, "usage: folio profile put [--nats-url URL] [--data DIR] DIR")
		return exitUsage
	}
	set, err := profile.LoadDir(paths[0])
	if err != nil {
		printProfileErr(stderr, "folio profile put: "+paths[0], err)
		return exitFailed
	}
	auth, err := nf.options(broker.RoleAdmin, *data)
	if err != nil {
		fmt.Fprintln(stderr, "folio profile put:", err)
		return exitUsage
	}
	if err := putProfiles(ctx, *nf.url, auth, set); err != nil {
		fmt.Fprintln(stderr, "folio profile put:", err)
		return exitFailed
	}
	for _, p := range set.Profiles() {
		fmt.Fprintf(stdout, "%s  %s\n", p.ID, p.Digest)
	}
	return exitOK
}

// sameProfiles says how two profile sets differ (ids and digests), or nil.
func sameProfiles(want, got *profile.Set) error {
	g := map[string]string{}
	for _, p := range got.Profiles() {
		g[p.ID] = p.Digest
	}
	for _, p := range want.Profiles() {
		d, ok := g[p.ID]
		switch {
		case !ok:
			return fmt.Errorf("NATS does not hold profile %s", p.ID)
		case d != p.Digest:
			return fmt.Errorf("NATS holds profile %s with digest %s, the directory %s", p.ID, d, p.Digest)
		}
		delete(g, p.ID)
	}
	for id := range g {
		return fmt.Errorf("NATS also holds profile %s", id)
	}
	return nil
}
