package plugin

import (
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/opea-project/kubectl-opea/pkg/apply"
)

// humanOutput is true when no -o format is asked for: one line per object,
// with what happened to it, and the notes meant for people.
func humanOutput(pf *genericclioptions.PrintFlags) bool {
	return pf.OutputFormat == nil || *pf.OutputFormat == ""
}

// outputFormatError names the formats -o accepts, as kubectl does.
func outputFormatError(pf *genericclioptions.PrintFlags) error {
	return fmt.Errorf("unsupported output format %q: use one of %s", *pf.OutputFormat, strings.Join(pf.AllowedFormats(), ", "))
}

// printResults prints the objects of results as kubectl apply does: by
// default one line each, "kind.group/name <action>", the action marked for
// a dry run; with -o name the names only; with -o yaml, json or a template
// the objects, as a v1 List when there are several.
func printResults(out io.Writer, pf *genericclioptions.PrintFlags, results []apply.Result, dryRun DryRunStrategy) error {
	if humanOutput(pf) {
		for _, r := range results {
			p := &printers.NamePrinter{Operation: string(r.Action) + dryRun.Suffix()}
			if err := p.PrintObj(r.Object, out); err != nil {
				return err
			}
		}
		return nil
	}
	printer, err := pf.ToPrinter()
	if err != nil {
		return outputFormatError(pf)
	}
	if len(results) == 1 {
		return printer.PrintObj(results[0].Object, out)
	}
	list := &unstructured.UnstructuredList{Object: map[string]interface{}{"apiVersion": "v1", "kind": "List", "metadata": map[string]interface{}{}}}
	for _, r := range results {
		list.Items = append(list.Items, *r.Object)
	}
	return printer.PrintObj(list, out)
}

// tryPrinting prints objs as printResults will, into nothing: a -o
// template that fails on them (a missing key with
// --allow-missing-template-keys=false, a function that fails) is a usage
// error before anything is written, rather than after.
func tryPrinting(pf *genericclioptions.PrintFlags, objs []*unstructured.Unstructured) error {
	if humanOutput(pf) {
		return nil
	}
	results := make([]apply.Result, len(objs))
	for i, obj := range objs {
		results[i] = apply.Result{Ref: apply.Ref(obj), Action: apply.Applied, Object: obj}
	}
	if err := printResults(io.Discard, pf, results, DryRunNone); err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("-o %s cannot print the objects, so none was applied: %v", *pf.OutputFormat, err)}
	}
	return nil
}

// printedNot reports applied objects that -o could not print: their names
// go to errOut, with the printing error.
func printedNot(errOut io.Writer, results []apply.Result, err error) error {
	for _, r := range results {
		fmt.Fprintf(errOut, "%s %s\n", r.Ref, r.Action)
	}
	return fmt.Errorf("the objects listed above are applied, but -o could not print them: %w", err)
}
