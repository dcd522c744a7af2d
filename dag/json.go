package dag

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonEscapes rewrites, inside double-quoted strings, the two escapes that
// JSON has and the YAML parser lacks: `\/` and UTF-16 surrogate pairs such
// as `\ud83d\ude00`, which become `/` and `\U0001F600`. Lines stay where
// they were. It reports false when src has neither, so the caller only
// retries when the rewrite can make a difference.
func jsonEscapes(src []byte) ([]byte, bool) {
	out := make([]byte, 0, len(src))
	changed, inStr := false, false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if !inStr || c != '\\' || i+1 == len(src) {
			if c == '"' {
				inStr = !inStr
			}
			out = append(out, c)
			continue
		}
		switch src[i+1] {
		case '/':
			out = append(out, '/')
			changed = true
			i++
		case 'u':
			r, ok := hex4(src, i+2)
			if !ok || !utf16.IsSurrogate(r) {
				out = append(out, c)
				continue
			}
			changed = true
			r2, ok2 := rune(0), false
			if i+7 < len(src) && src[i+6] == '\\' && src[i+7] == 'u' {
				r2, ok2 = hex4(src, i+8)
			}
			if full := utf16.DecodeRune(r, r2); ok2 && full != utf8.RuneError {
				out = fmt.Appendf(out, `\U%08X`, full)
				i += 11
			} else {
				out = append(out, `\uFFFD`...)
				i += 5
			}
		default:
			out = append(out, c, src[i+1])
			i++
		}
	}
	return out, changed
}

// hex4 reads the four hex digits at src[i:].
func hex4(src []byte, i int) (rune, bool) {
	if i+4 > len(src) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(src[i:i+4]), 16, 32)
	return rune(v), err == nil
}
