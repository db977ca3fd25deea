package native

// ReadManifest gives the tests of package native_test the check a patch
// file gets before it is opened.
var ReadManifest = readManifest
