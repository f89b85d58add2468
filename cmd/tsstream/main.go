// Command tsstream receives live byte streams (mostly MPEG-TS from ffmpeg)
// and distributes them to browsers, players and other tsstream nodes.
package main

import (
	"os"

	"github.com/tsstream/tsstream/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
