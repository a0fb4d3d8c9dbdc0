// Command folio renders clinical reports to PDF and thumbnails, runs the NATS
// render pipeline and serves the FHIR read endpoint. See docs/cli.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses, as cli.md promises.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the process exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) int{
		"binaries": runBinaries,

		"render":  runRender,
		"convert": runConvert,
		"serve":   runServe,
		"worker":  runWorker,
		"api":     runAPI,
		"submit":  runSubmit,
		"token":   runToken,
		"jobs":    runJobs,
		"job":     runJob,
		"mllp":    runMLLP,
		"creds":   runCreds,
		"index":   runIndex,
		"profile": runProfile,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "folio: unknown command %q\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: folio COMMAND [flags]

commands:
  render   render report files (report JSON, FHIR R4 JSON, HL7 v2) to PDF or thumbnails, no queue
  convert  print the report v1 JSON that each input maps to
  serve    run everything in one process (embedded NATS, workers, FHIR API)
  worker   run render workers against an external NATS server
  api      run the FHIR read endpoint against an external NATS server
  mllp     take HL7 v2 ORU^R01 over MLLP, queueing jobs on an external NATS server
  submit   publish render jobs
  jobs     list recent jobs (--failed, --since D, --json)
  job      show one job: status, error with its field path, warnings
  token    mint a development bearer token
  creds    show the embedded NATS server's credentials (for the nats CLI)
  binaries copy the Binaries to an S3 bucket (copy --to s3://...), list or remove orphans
  index    "index rebuild": index records stored before the FHIR search index
  profile  check site profiles: folio profile check FILE|DIR

Run "folio COMMAND -h" for a command's flags.
`)
}
