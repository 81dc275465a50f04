package tui

import "charm.land/bubbles/v2/key"

// keyMap is every key the dashboard answers to, with its help text.
type keyMap struct {
	Up, Down       key.Binding
	Logs           key.Binding
	Restart        key.Binding
	Rebuild        key.Binding
	Shell          key.Binding
	StopStart      key.Binding
	Scratch        key.Binding
	Search         key.Binding
	Next, Prev     key.Binding
	Follow         key.Binding
	PageUp, PageDn key.Binding
	Top, Bottom    key.Binding
	Clear          key.Binding
	Help           key.Binding
	Quit           key.Binding
	selectHelp     key.Binding // help line only: j/k and arrows together
}

func newKeyMap() keyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return keyMap{
		Up:        b("↑/k", "up", "up", "k"),
		Down:      b("↓/j", "down", "down", "j"),
		Logs:      b("enter", "logs of service/all", "enter"),
		Restart:   b("r", "restart", "r"),
		Rebuild:   b("b", "rebuild", "b"),
		Shell:     b("s", "shell", "s"),
		StopStart: b("x", "stop/start", "x"),
		Scratch:   b("S", "scratch rebuild", "S"),
		Search:    b("/", "search", "/"),
		Next:      b("n", "older match", "n"),
		Prev:      b("N", "newer match", "N"),
		Follow:    b("f", "follow/pause", "f"),
		PageUp:    b("pgup", "scroll up", "pgup", "ctrl+b"),
		PageDn:    b("pgdn", "scroll down", "pgdown", "ctrl+f"),
		Top:       b("g/home", "oldest", "g", "home"),
		Bottom:    b("G/end", "newest", "G", "end"),
		Clear:     b("esc", "clear search", "esc"),
		Help:      b("?", "all keys", "?"),
		Quit:      b("q", "quit", "q", "ctrl+c"),

		selectHelp: b("j/k", "select", "up", "down", "j", "k"),
	}
}

// ShortHelp is the help line.
func (k keyMap) ShortHelp() []key.Binding {
	// Help and quit first: they must survive truncation on narrow screens.
	short := func(b key.Binding, desc string) key.Binding {
		b.SetHelp(b.Help().Key, desc)
		return b
	}
	return []key.Binding{
		short(k.Help, "keys"), k.Quit, k.selectHelp, short(k.Logs, "logs"), k.Restart, k.Rebuild,
		k.Shell, k.StopStart, short(k.Scratch, "scratch"), k.Search, k.Follow,
	}
}

// FullHelp is what ? shows, in columns.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Logs, k.Restart, k.Rebuild, k.Shell},
		{k.StopStart, k.Scratch, k.Quit, k.Help},
		{k.Search, k.Next, k.Prev, k.Clear},
		{k.Follow, k.PageUp, k.PageDn, k.Top, k.Bottom},
	}
}
