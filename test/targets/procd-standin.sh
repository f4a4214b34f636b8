# A recording stand-in for what /etc/rc.common and procd.sh give an OpenWrt init script.
# Sourced, then the init script, then its functions are called (test/targets/procd.test.ts).
# Each procd function prints one line: its name, then each argument in brackets, e.g.
#   procd_set_param [command] [/usr/sbin/keyline] [run]
# The names are procd.sh's public ones (its _procd_wrapper list, procd_running, procd_lock and
# the data helpers): an init script calling a procd function that does not exist fails with
# "not found". logger is recorded too, so that nothing reaches the test machine's syslog.

# shellcheck disable=SC2034 # read by procd.sh and rc.common, not here
initscript=/etc/init.d/keyline

_standin_record() {
	printf '%s' "$1"
	shift
	for _standin_arg in "$@"; do
		printf ' [%s]' "$_standin_arg"
	done
	printf '\n'
}

for _standin_fn in \
	procd_open_service procd_close_service procd_add_instance procd_add_raw_trigger \
	procd_add_config_trigger procd_add_interface_trigger procd_add_mount_trigger \
	procd_add_reload_trigger procd_add_reload_data_trigger procd_add_reload_interface_trigger \
	procd_add_action_mount_trigger procd_add_reload_mount_trigger procd_add_restart_mount_trigger \
	procd_open_trigger procd_close_trigger procd_open_instance procd_close_instance \
	procd_open_validate procd_close_validate procd_add_jail procd_add_jail_mount \
	procd_add_jail_mount_rw procd_set_param procd_append_param procd_add_validation \
	procd_set_config_changed procd_kill procd_send_signal procd_running procd_lock \
	procd_open_data procd_close_data logger; do
	eval "$_standin_fn() { _standin_record $_standin_fn \"\$@\"; }"
done

# rc.common's defaults, which an init script overrides.
start_service() { return 0; }
stop_service() { return 0; }
service_triggers() { return 0; }
service_data() { return 0; }
service_running() { return 0; }
