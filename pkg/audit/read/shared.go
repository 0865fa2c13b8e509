package read

import (
	"encoding/binary"
	"slices"
)

// sharedStrings hands out one copy of each namespace name and one map per
// distinct set of labels (or annotations) among the pods of one list. The
// pods of a workload carry the same labels and Istio annotations, so a
// cluster of 100,000 pods holds a few hundred distinct sets: sharing them
// keeps verify's memory to a pod's name and a few words each, where a map
// of its own per pod would be most of what it keeps.
//
// The maps handed out are shared between pods: verify reads them and
// never writes to them.
type sharedStrings struct {
	strings map[string]string
	sets    map[string]map[string]string
}

func newSharedStrings() *sharedStrings {
	return &sharedStrings{strings: map[string]string{}, sets: map[string]map[string]string{}}
}

// string returns the first copy of s handed out.
func (h *sharedStrings) string(s string) string {
	if got, ok := h.strings[s]; ok {
		return got
	}
	h.strings[s] = s
	return s
}

// labels returns the first map handed out with m's keys and values; nil
// for an empty m.
func (h *sharedStrings) labels(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	key := setKey(m)
	if got, ok := h.sets[key]; ok {
		return got
	}
	h.sets[key] = m
	return m
}

// setKey spells m's keys and values in key order, each after its length,
// so that no two different maps spell the same (an annotation's value may
// hold any byte).
func setKey(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b []byte
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(m[k])))
		b = append(b, m[k]...)
	}
	return string(b)
}
