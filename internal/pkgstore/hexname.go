package pkgstore

// parseHexName decodes a blob name (64 lowercase hex characters).
func parseHexName(name []byte) (Digest, bool) {
	var d Digest
	if len(name) != 64 {
		return d, false
	}
	for i := 0; i < 32; i++ {
		hi, ok1 := nibble(name[2*i])
		lo, ok2 := nibble(name[2*i+1])
		if !ok1 || !ok2 {
			return d, false
		}
		d[i] = hi<<4 | lo
	}
	return d, true
}

// parseHexByte decodes a two-character directory name (ab, cd).
func parseHexByte(name []byte) (byte, bool) {
	if len(name) != 2 {
		return 0, false
	}
	hi, ok1 := nibble(name[0])
	lo, ok2 := nibble(name[1])
	return hi<<4 | lo, ok1 && ok2
}

func nibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
