// Package e2e runs the real forged binary as separate processes and talks
// to it only over HTTP and the CLI, as a user would.
package e2e
