// Package problems describes why a command cannot go ahead: each Problem says
// what is wrong and what to do about it, and a List reports all of them at
// once instead of stopping at the first.
package problems

import "strings"

// Problem is one failed precondition.
type Problem struct {
	// What is wrong, in one line.
	What string
	// Fix is the command to run or the change to make, in one line.
	Fix string
}

func (p *Problem) Error() string {
	if p.Fix == "" {
		return p.What
	}
	return p.What + "\n  fix: " + p.Fix
}

// New returns a Problem.
func New(what, fix string) *Problem { return &Problem{What: what, Fix: fix} }

// List is every problem found, in the order found.
type List []*Problem

func (l List) Error() string {
	var b strings.Builder
	for i, p := range l {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Err returns l as an error, or nil when it is empty.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}
