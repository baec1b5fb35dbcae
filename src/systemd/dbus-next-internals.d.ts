// dbus-next's own modules used to connect to systemd's private socket without a bus Hello.
declare module "dbus-next/lib/bus.js";
declare module "dbus-next/lib/connection.js";
