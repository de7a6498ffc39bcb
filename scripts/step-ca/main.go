// Command step-ca is a minimal entry point for smallstep's step-ca server, built from the library sources
// Debian ships (golang-github-smallstep-certificates-dev has no cmd/ directory). It exists only so the
// cert-renew tests can run a real step-ca; scripts/build-step-ca.sh builds it in GOPATH mode.
//
// Usage: step-ca <ca.json> --password-file <file> [--resolver host:port] [--quiet]
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/smallstep/certificates/commands"
	"github.com/urfave/cli"

	// The certificate-authority and key-management back-ends Debian keeps.
	_ "github.com/smallstep/certificates/cas/softcas"
	_ "github.com/smallstep/certificates/cas/stepcas"
	_ "github.com/smallstep/certificates/kms/softkms"
	_ "github.com/smallstep/certificates/kms/sshagentkms"
)

const serverCommand = "start"

// withServerCommand puts the server sub-command in front of the arguments unless they already name a
// command. urfave/cli v1 only moves flags that follow a positional argument for sub-commands, so
// `step-ca ca.json --password-file f` works only when it runs as `step-ca start ca.json --password-file f`.
func withServerCommand(app *cli.App, args []string) []string {
	if len(args) > 1 {
		first := args[1]
		switch first {
		case "help", "h", "--help", "-h", "--version", "-v":
			return args
		}
		if !strings.HasPrefix(first, "-") && app.Command(first) != nil {
			return args
		}
	}
	out := make([]string, 0, len(args)+1)
	out = append(out, args[0], serverCommand)
	return append(out, args[1:]...)
}

func main() {
	app := cli.NewApp()
	app.Name = "step-ca"
	app.HelpName = "step-ca"
	app.Usage = "an online certificate authority (smallstep), for the cert-renew tests"
	app.Version = "0.19.0 (Debian library sources)"
	app.UsageText = "step-ca <ca.json> --password-file <file> [--resolver <addr>] [--quiet]"

	server := commands.AppCommand
	server.Usage = "start the certificate authority"
	app.Commands = []cli.Command{server}

	if err := app.Run(withServerCommand(app, os.Args)); err != nil {
		fmt.Fprintln(os.Stderr, "step-ca:", err)
		os.Exit(1)
	}
}
