// Package examples holds the pipelines bundled with forged and the data
// they read. `forged dev` registers them and runs one.
package examples

import "embed"

// FS holds the example specs (*.yaml) and their data files.
//
//go:embed *.yaml data
var FS embed.FS
