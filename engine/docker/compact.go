package docker

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
)

// Over SSH every byte of a request crosses the link, and the body of a
// container create is mostly fields at their zero value: the API types
// carry no omitempty, so an empty HostConfig alone is 1.4 KB of
// "CpuShares":0,"Devices":null,... (measured: half of each create, and a
// fifth of all that the first up of a small project sends). compactJSON
// drops from such a body what the engine decodes the same whether sent or
// not: null; "", false, 0 (and fixed arrays of zeros) in fields that are
// neither pointers nor decoded by their own rules; objects of non-pointer
// structs left empty. A pointer's zero (MemorySwappiness 0, Init false)
// and an empty list (Entrypoint [] means "none", not "the image's") are
// kept: there, present and absent differ.

// compactJSON re-encodes b, a JSON encoding of a value of type t, without
// what decoding into t would not tell from absent.
func compactJSON(b []byte, t reflect.Type) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	v, keep := compactValue(v, t)
	if !keep {
		v = map[string]any{}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// compactValue returns v without its droppable parts, and whether v
// itself must be kept (false: leaving it out decodes to the same).
func compactValue(v any, t reflect.Type) (any, bool) {
	if v == nil {
		return nil, false // null decodes as absent does, into any type
	}
	ptr := false
	for t.Kind() == reflect.Pointer {
		t, ptr = t.Elem(), true
	}
	if p := reflect.PointerTo(t); p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler) {
		return v, true // decoded by its own rules: sent as it is
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return v, true
		}
		fields := jsonFields(t)
		for k, fv := range m {
			ft, ok := fields[k]
			if !ok {
				continue // not the type's: sent as it is
			}
			if nv, keep := compactValue(fv, ft); keep {
				m[k] = nv
			} else {
				delete(m, k)
			}
		}
		return m, ptr || len(m) > 0
	case reflect.Slice, reflect.Array:
		a, ok := v.([]any)
		if !ok {
			return v, true
		}
		zeros := true
		for i, e := range a {
			nv, keep := compactValue(e, t.Elem())
			switch _, obj := e.(map[string]any); {
			case keep:
				a[i], zeros = nv, false
			case obj:
				a[i] = map[string]any{} // an element cannot be left out
			}
		}
		// A fixed-size array of zeros is the array's zero; a slice,
		// even empty, is not nil.
		return a, ptr || t.Kind() == reflect.Slice || !zeros
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return v, true
		}
		for k, e := range m {
			nv, keep := compactValue(e, t.Elem())
			switch _, obj := e.(map[string]any); {
			case keep:
				m[k] = nv
			case obj:
				m[k] = map[string]any{} // an entry is kept, if empty
			}
		}
		return m, true
	case reflect.String:
		s, ok := v.(string)
		return v, ptr || !ok || s != ""
	case reflect.Bool:
		b, ok := v.(bool)
		return v, ptr || !ok || b
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			return v, true
		}
		f, err := n.Float64()
		return v, ptr || err != nil || f != 0
	}
	return v, true
}

// jsonFields maps the JSON names of a struct's fields to their types,
// with the fields of embedded structs flattened as encoding/json does
// (the shallower name wins).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				embedded = append(embedded, et)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	for _, et := range embedded {
		for name, ft := range jsonFields(et) {
			if _, ok := out[name]; !ok {
				out[name] = ft
			}
		}
	}
	return out
}
