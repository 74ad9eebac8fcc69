#!/bin/sh
# tools/cdef.sh HEADER -- print a Lua module returning HEADER's FFI region as
# ffi.cdef text.  The region lies between the lines '/* ffi:begin */' and
# '/* ffi:end */'.  A line '/* ffi:from PATH */' inside it splices in PATH's
# own region (used for kernels/ headers, which runtime/tp_ffi.h #includes).
# Preprocessor lines and the TP_FFI export marker are dropped; everything else
# is copied, so the C compiler and ffi.cdef read the same declarations.
set -eu
begin='^[ \t]*\/\* ffi:begin \*\/[ \t]*$'
end='^[ \t]*\/\* ffi:end \*\/[ \t]*$'
printf -- '-- generated from %s by tools/cdef.sh: do not edit\nreturn [==[\n' "$1"
awk -v B="$begin" -v E="$end" '
	$0 ~ E { inside = 0 }
	inside && /^[ \t]*\/\* ffi:from [^ ]+ \*\/[ \t]*$/ {
		path = $3
		print "/* from " path " */"
		sub_in = 0; found = 0
		while ((getline line < path) > 0) {
			if (line ~ E) sub_in = 0
			if (sub_in && line !~ /^[ \t]*#/) print line
			if (line ~ B) { sub_in = 1; found = 1 }
		}
		close(path)
		if (!found) { print "cdef.sh: no ffi region in " path > "/dev/stderr"; exit 1 }
		next
	}
	inside && !/^[ \t]*#/ { print }
	$0 ~ B { inside = 1 }
' "$1" | sed 's/TP_FFI[[:space:]]*//g'
printf ']==]\n'
