// Command forged is the forged binary: run `forged --help` for its
// commands, and see package cli for what each does.
package main

import "github.com/forged-dev/forged/cmd/forged/cli"

func main() { cli.Main(cli.Options{}) }
