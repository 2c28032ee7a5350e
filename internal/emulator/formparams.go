package emulator

import (
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// formToJSON turns the flat parameters of a form-encoded request
// ("MediaType=mp4", "FileIds.0=x", "Sort.Field=CreateTime") into the JSON
// object that the action's request model (*struct with json tags, like
// *vod.ApplyUploadRequestParams) decodes, converting each value to its
// field's type. Names follow the SDKs' flattening: "." before a struct
// field, ".N" for the N-th element of a list (0-based, no gaps).
func formToJSON(params map[string]string, model any) ([]byte, *apiError) {
	root := map[string]any{}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	t := reflect.TypeOf(model).Elem()
	for _, name := range names {
		if aerr := setFormValue(root, t, name, strings.Split(name, "."), params[name], len(params)); aerr != nil {
			return nil, aerr
		}
	}
	v, aerr := finishFormTree(root, "")
	if aerr != nil {
		return nil, aerr
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, newAPIError("InvalidParameter", "The parameters could not be encoded: %v.", err)
	}
	return b, nil
}

// setFormValue stores value under the path segs of node (an object of
// struct type t).
func setFormValue(node map[string]any, t reflect.Type, name string, segs []string, value string, maxIndex int) *apiError {
	ft, ok := jsonField(t, segs[0])
	if !ok {
		return newAPIError("UnknownParameter", "The parameter `%s` is not recognized.", clipName(name))
	}
	return setTyped(func(v any) bool { return put(node, segs[0], v) }, func() any { return node[segs[0]] }, ft, name, segs[1:], value, maxIndex)
}

// setTyped sets a value of type ft, reached through get/set of its parent.
func setTyped(set func(any) bool, get func() any, ft reflect.Type, name string, rest []string, value string, maxIndex int) *apiError {
	conflict := newAPIError("InvalidParameter", "The parameter `%s` conflicts with another parameter of the same name.", clipName(name))
	for ft.Kind() == reflect.Pointer {
		ft = ft.Elem()
	}
	switch ft.Kind() {
	case reflect.Struct:
		if len(rest) == 0 {
			return newAPIError("InvalidParameter", "The parameter `%s` is an object: give its fields as `%s.Field`.", clipName(name), clipName(name))
		}
		obj, _ := get().(map[string]any)
		if obj == nil {
			obj = map[string]any{}
			if !set(obj) {
				return conflict
			}
		}
		return setFormValue(obj, ft, name, rest, value, maxIndex)
	case reflect.Slice:
		if len(rest) == 0 {
			return newAPIError("InvalidParameter", "The parameter `%s` is a list: give its elements as `%s.0`, `%s.1`...", clipName(name), clipName(name), clipName(name))
		}
		i, err := strconv.Atoi(rest[0])
		if err != nil || i < 0 || i >= maxIndex || strconv.Itoa(i) != rest[0] {
			return newAPIError("InvalidParameter", "The parameter `%s` has a bad list index `%s`.", clipName(name), clipName(rest[0]))
		}
		list, _ := get().(map[int]any)
		if list == nil {
			list = map[int]any{}
			if !set(list) {
				return conflict
			}
		}
		elem := ft.Elem()
		return setTyped(func(v any) bool { return put(list, i, v) }, func() any { return list[i] }, elem, name, rest[1:], value, maxIndex)
	default:
		if len(rest) > 0 {
			return newAPIError("UnknownParameter", "The parameter `%s` is not recognized.", clipName(name))
		}
		v, aerr := scalar(ft, name, value)
		if aerr != nil {
			return aerr
		}
		if !set(v) {
			return conflict
		}
		return nil
	}
}

// put stores v under k unless something is there already.
func put[K comparable](m map[K]any, k K, v any) bool {
	if _, taken := m[k]; taken {
		return false
	}
	m[k] = v
	return true
}

func scalar(t reflect.Type, name, value string) (any, *apiError) {
	bad := func(want string) *apiError {
		return newAPIError("InvalidParameter", "The parameter `%s` has the wrong type: want %s, got `%s`.", clipName(name), want, clipName(value))
	}
	switch t.Kind() {
	case reflect.String:
		return value, nil
	case reflect.Bool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return nil, bad("a boolean")
		}
		return b, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(value, 10, t.Bits())
		if err != nil {
			return nil, bad("an integer")
		}
		return n, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(value, 10, t.Bits())
		if err != nil {
			return nil, bad("an unsigned integer")
		}
		return n, nil
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(value, t.Bits())
		if err != nil {
			return nil, bad("a number")
		}
		return f, nil
	}
	return nil, bad(t.Kind().String())
}

// finishFormTree turns the index maps of lists into JSON arrays, refusing
// gaps (a list given as .0 and .2).
func finishFormTree(v any, name string) (any, *apiError) {
	switch n := v.(type) {
	case map[string]any:
		for k, child := range n {
			c, aerr := finishFormTree(child, joinName(name, k))
			if aerr != nil {
				return nil, aerr
			}
			n[k] = c
		}
		return n, nil
	case map[int]any:
		out := make([]any, len(n))
		for i := range out {
			child, ok := n[i]
			if !ok {
				return nil, newAPIError("InvalidParameter", "The list `%s` has no element %d but has %d elements.", clipName(name), i, len(n))
			}
			c, aerr := finishFormTree(child, joinName(name, strconv.Itoa(i)))
			if aerr != nil {
				return nil, aerr
			}
			out[i] = c
		}
		return out, nil
	}
	return v, nil
}

func joinName(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// jsonField finds the field of struct t whose json name is name (exact case).
func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if n == name && n != "" && n != "-" {
			return f.Type, true
		}
	}
	return nil, false
}
