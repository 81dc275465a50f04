package container

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Owner is a numeric uid and gid in the container.
type Owner struct{ UID, GID int }

// ResolveUser turns a container's user ("", "1000", "1000:1000", "node",
// "node:staff") into numeric ids, as the engine would when starting a
// process: names come from the container's own /etc/passwd and
// /etc/group (read through the archive API, so no shell is needed), a
// numeric uid takes its group from /etc/passwd when listed there, else 0.
func ResolveUser(ctx context.Context, api API, id, user string) (Owner, error) {
	if user == "" {
		return Owner{}, nil
	}
	name, group, hasGroup := strings.Cut(user, ":")
	var o Owner
	uid, err := strconv.Atoi(name)
	numericUser := err == nil
	gid, gerr := strconv.Atoi(group)
	numericGroup := hasGroup && gerr == nil
	if numericUser && (numericGroup || hasGroup && group == "") {
		return Owner{UID: uid, GID: gid}, nil
	}
	var passwd []byte
	if !numericUser || !hasGroup {
		passwd, err = readFile(ctx, api, id, "/etc/passwd")
		if err != nil && !numericUser {
			return Owner{}, fmt.Errorf("unable to resolve user %q: %w", user, err)
		}
	}
	if numericUser {
		o.UID = uid
		if e, ok := lookup(passwd, 2, name); ok {
			o.GID, _ = strconv.Atoi(e[3])
		}
	} else {
		e, ok := lookup(passwd, 0, name)
		if !ok {
			return Owner{}, fmt.Errorf("unable to resolve user %q: no such user in the container's /etc/passwd", user)
		}
		o.UID, _ = strconv.Atoi(e[2])
		o.GID, _ = strconv.Atoi(e[3])
	}
	if !hasGroup {
		return o, nil
	}
	if numericGroup {
		o.GID = gid
		return o, nil
	}
	groups, err := readFile(ctx, api, id, "/etc/group")
	if err != nil {
		return Owner{}, fmt.Errorf("unable to resolve group %q: %w", group, err)
	}
	e, ok := lookup(groups, 0, group)
	if !ok {
		return Owner{}, fmt.Errorf("unable to resolve group %q: no such group in the container's /etc/group", group)
	}
	o.GID, _ = strconv.Atoi(e[2])
	return o, nil
}

// lookup finds the colon-separated entry (passwd or group, both have at
// least four fields) whose field col equals value.
func lookup(file []byte, col int, value string) ([]string, bool) {
	sc := bufio.NewScanner(bytes.NewReader(file))
	for sc.Scan() {
		if f := strings.Split(sc.Text(), ":"); len(f) >= 4 && f[col] == value {
			return f, true
		}
	}
	return nil, false
}

// readFile reads one small file from the container through the archive API.
func readFile(ctx context.Context, api API, id, path string) ([]byte, error) {
	rc, err := api.CopyFrom(ctx, id, path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("unable to read %s from the container: %w", path, err)
		}
		if h.Typeflag == tar.TypeSymlink {
			return nil, fmt.Errorf("%s is a symlink in the container", path)
		}
		if h.Typeflag == tar.TypeReg {
			return io.ReadAll(io.LimitReader(tr, 16<<20))
		}
	}
}
