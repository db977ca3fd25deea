// Package proctree finds the processes below a plugin, from /proc on
// Linux: the host uses it to kill a plugin's whole tree, the plugin to kill
// its own descendants when it leaves. Other systems have no such walk;
// there, the process group is what is killed.
package proctree
