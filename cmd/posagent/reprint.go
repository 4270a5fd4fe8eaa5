package main

import (
	"context"
	"fmt"
	"io"

	"github.com/posagent/posagent/core/receipt"
)

// cmdReprint: posagent reprint [ID] [--merchant] — print a receipt again
// (the customer's copy by default), marked "重打印 REPRINT". Without an ID,
// the newest transaction that has a receipt. The job goes through the
// durable print queue: with the paper out it prints when paper returns.
func cmdReprint(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("reprint")
	var cf clientFlags
	cf.register(fs)
	merchant := fs.Bool("merchant", false, "the merchant's copy instead of the customer's")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("reprint: want at most one transaction ID (default: the last sale)")
	}
	id := "last"
	if fs.NArg() == 1 {
		id = fs.Arg(0)
	}
	cp := receipt.CustomerCopy
	if *merchant {
		cp = receipt.MerchantCopy
	}
	cl, err := cf.client()
	if err != nil {
		return err
	}
	res, err := cl.Reprint(ctx, id, cp)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "reprint of %s (%s copy) queued as print job %d\n", res.TxnID, res.Copy, res.Job)
	return err
}
