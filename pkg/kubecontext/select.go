// Package kubecontext chooses kube contexts from a kubeconfig by the
// syntax of kubectl-foreach: exact names, /regular expressions/, and either
// of them after ^ to leave contexts out. It is pure: it reads the names it
// is given, not a kubeconfig.
package kubecontext

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Pattern is one entry of a selection: an exact context name or a regular
// expression, which adds the contexts it matches or, excluding, removes
// them.
type Pattern struct {
	// Text is the entry as given, for messages.
	Text    string
	Exclude bool
	// Name is the exact context name; "" when Regexp is set.
	Name   string
	Regexp *regexp.Regexp
}

// Matches reports whether the pattern matches the context name. A regular
// expression matches anywhere in the name, as grep does: anchor it with
// ^ and $ inside the slashes to match the whole name.
func (p Pattern) Matches(name string) bool {
	if p.Regexp != nil {
		return p.Regexp.MatchString(name)
	}
	return p.Name == name
}

// Parse reads a comma-separated selection: "dev,stage,/prod-.*/,^prod-old".
// A regular expression runs from its opening slash to the slash that ends
// the entry, so it may hold commas ("/eu-[0-9]{1,2}/").
func Parse(spec string) ([]Pattern, error) {
	entries, err := split(spec)
	if err != nil {
		return nil, err
	}
	patterns := make([]Pattern, 0, len(entries))
	for _, entry := range entries {
		p, err := parseEntry(entry)
		if err != nil {
			return nil, err
		}
		patterns = append(patterns, p)
	}
	return patterns, nil
}

// split cuts spec at the commas between entries, keeping a regular
// expression's own commas.
func split(spec string) ([]string, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("no context named: give names, /regular expressions/ or ^exclusions, separated by commas")
	}
	var entries []string
	rest := spec
	for {
		n := entryLength(rest)
		if n < 0 {
			return nil, fmt.Errorf("%q: a regular expression must end with /", strings.TrimSpace(rest))
		}
		entry := strings.TrimSpace(rest[:n])
		if entry == "" || entry == "^" {
			return nil, fmt.Errorf("%q has an empty entry: separate names with single commas", spec)
		}
		entries = append(entries, entry)
		rest = rest[n:]
		if rest == "" {
			return entries, nil
		}
		rest = rest[1:] // the comma
		if strings.TrimSpace(rest) == "" {
			return nil, fmt.Errorf("%q ends with a comma", spec)
		}
	}
}

// entryLength is the length of the entry at the start of s: up to the next
// comma, or for a regular expression up to its closing slash; -1 when a
// regular expression is not closed.
func entryLength(s string) int {
	lead := len(s) - len(strings.TrimLeft(s, " "))
	body := strings.TrimPrefix(s[lead:], "^")
	if !strings.HasPrefix(body, "/") {
		if i := strings.IndexByte(s, ','); i >= 0 {
			return i
		}
		return len(s)
	}
	start := len(s) - len(body)
	for i := 1; i < len(body); i++ {
		if body[i] != '/' {
			continue
		}
		after := strings.TrimLeft(body[i+1:], " ")
		if after == "" || after[0] == ',' {
			return start + i + 1 + (len(body[i+1:]) - len(after))
		}
	}
	return -1
}

func parseEntry(entry string) (Pattern, error) {
	p := Pattern{Text: entry}
	body := entry
	if strings.HasPrefix(body, "^") {
		p.Exclude, body = true, body[1:]
	}
	if len(body) >= 2 && strings.HasPrefix(body, "/") && strings.HasSuffix(body, "/") {
		re, err := regexp.Compile(body[1 : len(body)-1])
		if err != nil {
			return p, fmt.Errorf("%q is not a valid regular expression: %v", entry, err)
		}
		p.Regexp = re
		return p, nil
	}
	p.Name = body
	return p, nil
}

// NoMatchError is a pattern that matches no context of the kubeconfig: most
// often a typo.
type NoMatchError struct {
	Pattern  string
	Contexts []string
}

func (e *NoMatchError) Error() string {
	if len(e.Contexts) == 0 {
		return fmt.Sprintf("%q matches no context: the kubeconfig has none", e.Pattern)
	}
	return fmt.Sprintf("%q matches no context; the kubeconfig has %s", e.Pattern, strings.Join(e.Contexts, ", "))
}

// Select returns, sorted, the contexts among all that the patterns choose.
// They apply in order, each adding or removing the contexts it matches;
// when every pattern excludes, they start from all the contexts. A pattern
// that matches none of all is an error, and so is a selection of nothing.
func Select(all []string, patterns []Pattern) ([]string, error) {
	sorted := slices.Sorted(slices.Values(all))
	chosen := map[string]bool{}
	if !slices.ContainsFunc(patterns, func(p Pattern) bool { return !p.Exclude }) {
		for _, name := range sorted {
			chosen[name] = true
		}
	}
	for _, p := range patterns {
		matched := false
		for _, name := range sorted {
			if p.Matches(name) {
				matched = true
				chosen[name] = !p.Exclude
			}
		}
		if !matched {
			return nil, &NoMatchError{Pattern: p.Text, Contexts: sorted}
		}
	}
	var out []string
	for _, name := range sorted {
		if chosen[name] {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the selection leaves no context: its exclusions remove every context it would choose")
	}
	return out, nil
}
