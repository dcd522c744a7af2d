package api

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/forged-dev/forged/model"
)

// Predict request bodies are decoded by hand, straight into one flat
// []float64: encoding/json spends most of a 1000-row request's time
// building interface values. The decoder reads {"instances": [[...], ...]}
// and {"records": [{...}, ...]}; numbers, booleans (1 and 0) and null
// (NaN, a missing value) are the values it takes.

// maxPredictRows bounds one request.
const maxPredictRows = 1 << 20

// decodeInstances decodes a JSON predict body for a model with sig's
// features. Errors say what is wrong and where: the row, the feature.
// The rows are appended to dst[:0].
func decodeInstances(body []byte, sig model.Signature, dst []float64) ([]float64, int, error) {
	d := &jsonScan{b: body, dst: dst[:0]}
	d.space()
	if !d.eat('{') {
		return nil, 0, d.fail(`want an object: {"instances": [[...], ...]} or {"records": [{...}, ...]}`)
	}
	var x []float64
	n, seen := 0, false
	for {
		d.space()
		if d.eat('}') {
			break
		}
		if seen && !d.eat(',') {
			return nil, 0, d.fail("want , or } after the rows")
		}
		d.space()
		key, err := d.str()
		if err != nil {
			return nil, 0, err
		}
		d.space()
		if !d.eat(':') {
			return nil, 0, d.fail("want : after a key")
		}
		d.space()
		switch key {
		case "instances":
			x, n, err = d.instances(sig)
		case "records":
			x, n, err = d.records(sig)
		default:
			return nil, 0, fmt.Errorf("unknown key %q: want instances or records", key)
		}
		if err != nil {
			return nil, 0, err
		}
		if seen {
			return nil, 0, fmt.Errorf("give instances or records, once")
		}
		seen = true
	}
	d.space()
	if d.i != len(d.b) {
		return nil, 0, d.fail("unexpected data after the object")
	}
	if !seen {
		return nil, 0, fmt.Errorf(`no rows: want {"instances": [[...], ...]} or {"records": [{...}, ...]}`)
	}
	return x, n, nil
}

// jsonScan walks a JSON document.
type jsonScan struct {
	b   []byte
	i   int
	dst []float64 // where rows go
}

func (d *jsonScan) fail(msg string) error {
	return fmt.Errorf("malformed JSON at byte %d: %s", d.i, msg)
}

// nextRow steps to row n of a list whose rows are what: done at the
// list's closing bracket, an error when the comma between rows is
// missing or the list holds more than maxPredictRows.
func (d *jsonScan) nextRow(n int, what string) (done bool, err error) {
	d.space()
	if d.eat(']') {
		return true, nil
	}
	if n > 0 && !d.eat(',') {
		return false, d.fail("want , or ] between " + what)
	}
	if n >= maxPredictRows {
		return false, fmt.Errorf("more than %d rows in one request", maxPredictRows)
	}
	d.space()
	return false, nil
}

func (d *jsonScan) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonScan) eat(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// str reads a string; escapes are decoded only as far as keys need.
func (d *jsonScan) str() (string, error) {
	if !d.eat('"') {
		return "", d.fail("want a string")
	}
	start := d.i
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case '"':
			s := d.b[start:d.i]
			d.i++
			return string(s), nil
		case '\\':
			// Rare in feature names: let strconv do it.
			end := d.i
			for end < len(d.b) && d.b[end] != '"' {
				if d.b[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(d.b) {
				return "", d.fail("unterminated string")
			}
			s, err := strconv.Unquote(string(d.b[start-1 : end+1]))
			if err != nil {
				return "", d.fail("bad string escape")
			}
			d.i = end + 1
			return s, nil
		}
		d.i++
	}
	return "", d.fail("unterminated string")
}

// value reads one feature value: a number, true, false or null.
func (d *jsonScan) value(sig model.Signature, f, row int) (float64, error) {
	if d.i >= len(d.b) {
		return 0, d.fail("unexpected end")
	}
	c := d.b[d.i]
	switch {
	case c == 'n' && d.word("null"):
		return math.NaN(), nil
	case c == 't' && d.word("true"):
		return 1, nil
	case c == 'f' && d.word("false"):
		return 0, nil
	case c == '-' || c >= '0' && c <= '9':
		if sig.Features[f].Type == "bool" {
			return 0, fmt.Errorf("row %d, feature %q: want true or false, got a number", row, sig.Features[f].Name)
		}
		return d.number()
	case c == '"':
		return 0, fmt.Errorf("row %d, feature %q: want a number, got a string", row, sig.Features[f].Name)
	}
	return 0, fmt.Errorf("row %d, feature %q: want a number", row, sig.Features[f].Name)
}

func (d *jsonScan) word(w string) bool {
	if len(d.b)-d.i >= len(w) && string(d.b[d.i:d.i+len(w)]) == w {
		d.i += len(w)
		return true
	}
	return false
}

// pow10 holds the powers of ten a float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// number reads a JSON number. A short decimal (its digits fit a float64
// exactly, at most 22 of them after the point, no exponent) is converted
// with one division of two exact float64s, which IEEE rounding makes
// exactly what strconv.ParseFloat gives; anything else goes to
// strconv.ParseFloat.
func (d *jsonScan) number() (float64, error) {
	b, i := d.b, d.i
	start := i
	neg := false
	if i < len(b) && b[i] == '-' {
		neg = true
		i++
	}
	var mant uint64
	frac := 0
	exact := true
	intStart := i
	for ; i < len(b); i++ {
		c := b[i] - '0'
		if c > 9 {
			break
		}
		if mant < 1e17 {
			mant = mant*10 + uint64(c)
		} else {
			exact = false
		}
	}
	if i == intStart || (b[intStart] == '0' && i-intStart > 1) {
		d.i = i
		return 0, d.fail("bad number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for ; i < len(b); i++ {
			c := b[i] - '0'
			if c > 9 {
				break
			}
			if mant < 1e17 {
				mant = mant*10 + uint64(c)
				frac++
			} else {
				exact = false
			}
		}
		if i == fs {
			d.i = i
			return 0, d.fail("bad number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		exact = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		es := i
		for i < len(b) && b[i]-'0' <= 9 {
			i++
		}
		if i == es {
			d.i = i
			return 0, d.fail("bad number")
		}
	}
	d.i = i
	if exact && mant <= 1<<53 && frac <= 22 {
		v := float64(mant) / pow10[frac]
		if neg {
			v = -v
		}
		return v, nil
	}
	v, err := strconv.ParseFloat(string(b[start:i]), 64)
	if err != nil {
		return 0, d.fail("bad number")
	}
	return v, nil
}

// instances reads [[v, ...], ...], each row exactly as wide as the
// signature.
func (d *jsonScan) instances(sig model.Signature) ([]float64, int, error) {
	width := len(sig.Features)
	isBool := boolFeatures(sig)
	if !d.eat('[') {
		return nil, 0, d.fail("instances must be a list of rows")
	}
	x := d.dst
	if want := width * min(max(len(d.b)/(width*8+2), 1), maxPredictRows); cap(x) < want {
		x = make([]float64, 0, want)
	}
	n := 0
	for {
		if done, err := d.nextRow(n, "rows"); err != nil {
			return nil, 0, err
		} else if done {
			return x, n, nil
		}
		if cap(x)-len(x) < width {
			x = slices.Grow(x, max(width, len(x)))
		}
		if end, ok := fastRow(d.b, d.i, width, isBool, x[len(x):len(x)+width:len(x)+width]); ok {
			x = x[:len(x)+width]
			d.i = end
			n++
			continue
		}
		if !d.eat('[') {
			return nil, 0, fmt.Errorf("row %d: want a list of %d values", n, width)
		}
		for f := 0; ; f++ {
			d.space()
			if d.eat(']') {
				if f != width {
					return nil, 0, fmt.Errorf("row %d has %d values; the model takes %d features", n, f, width)
				}
				break
			}
			if f > 0 && !d.eat(',') {
				return nil, 0, d.fail("want , or ] between values")
			}
			if f >= width {
				return nil, 0, fmt.Errorf("row %d has more than %d values; the model takes %d features", n, width, width)
			}
			d.space()
			var v float64
			var err error
			if c := d.peek(); (c == '-' || c-'0' <= 9) && !isBool[f] {
				v, err = d.number()
			} else {
				v, err = d.value(sig, f, n)
			}
			if err != nil {
				return nil, 0, err
			}
			x = append(x, v)
		}
		n++
	}
}

// fastRow reads one row of plain numbers, [v, v, ...] with exactly
// len(out) short decimals (see number), into out and returns the index
// after it. Anything else (null, booleans, exponents, long numbers, a
// wrong width, bad syntax) returns ok false, and the row is read again by
// the general code, which also reports errors.
func fastRow(b []byte, i, width int, isBool []bool, out []float64) (int, bool) {
	if len(out) != width || i >= len(b) || b[i] != '[' {
		return i, false
	}
	i++
	for f := 0; f < width; f++ {
		for i < len(b) && b[i] == ' ' {
			i++
		}
		if isBool[f] || i >= len(b) {
			return i, false
		}
		neg := b[i] == '-'
		if neg {
			i++
		}
		start := i
		var mant uint64
		for i < len(b) && b[i]-'0' <= 9 {
			mant = mant*10 + uint64(b[i]-'0')
			i++
		}
		digits := i - start
		if digits == 0 || (b[start] == '0' && digits > 1) {
			return i, false
		}
		frac := 0
		if i < len(b) && b[i] == '.' {
			i++
			fs := i
			for i < len(b) && b[i]-'0' <= 9 {
				mant = mant*10 + uint64(b[i]-'0')
				i++
			}
			frac = i - fs
			if frac == 0 {
				return i, false
			}
		}
		if digits+frac > 15 || (i < len(b) && (b[i] == 'e' || b[i] == 'E')) {
			return i, false
		}
		v := float64(mant) / pow10[frac]
		if neg {
			v = -v
		}
		out[f] = v
		for i < len(b) && b[i] == ' ' {
			i++
		}
		if i >= len(b) {
			return i, false
		}
		if f < width-1 {
			if b[i] != ',' {
				return i, false
			}
		} else if b[i] != ']' {
			return i, false
		}
		i++
	}
	return i, true
}

// peek returns the next byte, or 0 at the end.
func (d *jsonScan) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

// boolFeatures marks the features of type bool.
func boolFeatures(sig model.Signature) []bool {
	out := make([]bool, len(sig.Features))
	for i, f := range sig.Features {
		out[i] = f.Type == "bool"
	}
	return out
}

// records reads [{"feature": v, ...}, ...]; every feature must be there;
// other keys are skipped.
func (d *jsonScan) records(sig model.Signature) ([]float64, int, error) {
	width := len(sig.Features)
	index := make(map[string]int, width)
	for i, f := range sig.Features {
		index[f.Name] = i
	}
	if !d.eat('[') {
		return nil, 0, d.fail("records must be a list of objects")
	}
	x := d.dst
	set := make([]bool, width)
	n := 0
	for {
		if done, err := d.nextRow(n, "records"); err != nil {
			return nil, 0, err
		} else if done {
			return x, n, nil
		}
		if !d.eat('{') {
			return nil, 0, fmt.Errorf("record %d: want an object of feature values", n)
		}
		row := len(x)
		for range width {
			x = append(x, 0)
		}
		clear(set)
		for k := 0; ; k++ {
			d.space()
			if d.eat('}') {
				break
			}
			if k > 0 && !d.eat(',') {
				return nil, 0, d.fail("want , or } between fields")
			}
			d.space()
			name, err := d.str()
			if err != nil {
				return nil, 0, err
			}
			f, ok := index[name]
			d.space()
			if !d.eat(':') {
				return nil, 0, d.fail("want : after a field name")
			}
			d.space()
			if !ok {
				// Not a feature (an id, the label): skipped.
				if err := d.skip(0); err != nil {
					return nil, 0, err
				}
				continue
			}
			v, err := d.value(sig, f, n)
			if err != nil {
				return nil, 0, err
			}
			x[row+f] = v
			set[f] = true
		}
		for f, ok := range set {
			if !ok {
				return nil, 0, fmt.Errorf("record %d: missing feature %q", n, sig.Features[f].Name)
			}
		}
		n++
	}
}

// maxDepth bounds the nesting of a skipped value.
const maxDepth = 64

// skip passes over one JSON value of any kind.
func (d *jsonScan) skip(depth int) error {
	if depth > maxDepth {
		return d.fail("nested too deeply")
	}
	if d.i >= len(d.b) {
		return d.fail("unexpected end")
	}
	switch c := d.b[d.i]; {
	case c == '"':
		_, err := d.str()
		return err
	case c == '[' || c == '{':
		closer := byte(']')
		if c == '{' {
			closer = '}'
		}
		d.i++
		for k := 0; ; k++ {
			d.space()
			if d.eat(closer) {
				return nil
			}
			if k > 0 && !d.eat(',') {
				return d.fail("want , between values")
			}
			d.space()
			if c == '{' {
				if _, err := d.str(); err != nil {
					return err
				}
				d.space()
				if !d.eat(':') {
					return d.fail("want : after a key")
				}
				d.space()
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
		}
	case c == 't' && d.word("true"), c == 'f' && d.word("false"), c == 'n' && d.word("null"):
		return nil
	case c == '-' || c >= '0' && c <= '9':
		_, err := d.number()
		return err
	}
	return d.fail("want a value")
}
