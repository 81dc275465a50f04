package main

import "github.com/spf13/cobra"

// composeCommands are the commands Docker Compose has too, with its
// meaning: `devstack --help` lists them apart from devstack's own, so
// someone coming from Compose sees what carries over.
var composeCommands = map[string]bool{
	"attach": true, "build": true, "config": true, "cp": true, "create": true, "down": true, "events": true,
	"exec": true, "images": true, "kill": true, "logs": true, "ls": true, "pause": true, "port": true,
	"ps": true, "pull": true, "push": true, "restart": true, "rm": true, "run": true, "scale": true,
	"start": true, "stats": true, "stop": true, "top": true, "unpause": true, "up": true, "version": true,
	"wait": true, "watch": true,
}

// groupCommands puts every command in one of the two help groups;
// cobra's own (help, completion) go with devstack's.
func groupCommands(root *cobra.Command) {
	root.AddGroup(
		&cobra.Group{ID: "compose", Title: "Compose commands (as docker compose has them):"},
		&cobra.Group{ID: "devstack", Title: "devstack's own commands:"},
	)
	for _, c := range root.Commands() {
		if composeCommands[c.Name()] {
			c.GroupID = "compose"
		} else {
			c.GroupID = "devstack"
		}
	}
	root.SetHelpCommandGroupID("devstack")
	root.SetCompletionCommandGroupID("devstack")
}
