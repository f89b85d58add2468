package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/tsstream/tsstream/internal/config"
	"github.com/tsstream/tsstream/internal/guard"
)

// tokenSecretEnv names the environment variable that holds the token
// secret when there is no -config.
const tokenSecretEnv = "TSSTREAM_TOKEN_SECRET"

// tokenMain is `tsstream token`: it prints a play token for one stream.
func tokenMain(args []string, stdout, stderr io.Writer, now time.Time) int {
	fs := flag.NewFlagSet("tsstream token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stream := fs.String("stream", "", "the stream `name` the token opens (required)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	ip := fs.String("ip", "", "bind the token to this client `address` (default: any)")
	cfgFile := fs.String("config", "", "take auth.token_secret from this YAML `file` (default: $"+tokenSecretEnv+")")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: tsstream token -stream NAME [-ttl 1h] [-ip ADDR] [-config FILE]\n\n"+
			"Prints a play token for streams with play_token: \"on\"; viewers add ?token=TOKEN to the play URL.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitInvalid
	}
	secret, err := tokenSecret(*cfgFile)
	var addr netip.Addr
	switch {
	case err != nil:
	case *stream == "":
		err = errors.New("-stream is required")
	case *ttl <= 0:
		err = fmt.Errorf("-ttl %s: must be positive", *ttl)
	case config.ValidStreamName(*stream) != nil:
		err = config.ValidStreamName(*stream)
	case *ip != "":
		if addr, err = netip.ParseAddr(*ip); err != nil {
			err = fmt.Errorf("-ip %q: not an IP address", *ip)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "tsstream token:", err)
		return exitInvalid
	}
	fmt.Fprintln(stdout, guard.SignToken([]byte(secret), *stream, now.Add(*ttl), addr))
	return exitOK
}

func tokenSecret(cfgFile string) (string, error) {
	secret := os.Getenv(tokenSecretEnv)
	if cfgFile != "" {
		cfg, err := config.Load(cfgFile)
		if err != nil {
			return "", err
		}
		if cfg.Auth.TokenSecret != "" {
			secret = cfg.Auth.TokenSecret
		}
	}
	if len(secret) < guard.MinSecretLen {
		return "", fmt.Errorf("no token secret of %d+ characters: set auth.token_secret in the -config file, or $%s",
			guard.MinSecretLen, tokenSecretEnv)
	}
	return secret, nil
}
