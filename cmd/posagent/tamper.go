package main

import (
	"context"
	"fmt"
	"io"
)

// cmdTamper: posagent tamper clear — after inspecting an opened case, a
// technician unlocks payments.
func cmdTamper(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "clear" {
		return usagef("tamper: want clear")
	}
	fs := newFlags("tamper clear")
	var cf clientFlags
	cf.register(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	if err := cl.ClearTamper(ctx); err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, "tamper latch cleared; payments unlocked")
	return err
}
