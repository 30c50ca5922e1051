// Reads the SFDX project with @salesforce/source-deploy-retrieve (the library behind
// `sf project deploy start`) and converts it to Metadata API format, as a deploy does first.
// Prints one "Type FullName" line per component and the package.xml; exits 1 on any file the
// library does not recognise as Salesforce metadata. (undici is held at 6 so Node 20 can load it.)
const path = require('path');
const os = require('os');
const fs = require('fs');
const { ComponentSet, MetadataConverter } = require('@salesforce/source-deploy-retrieve');

async function main(sourceDir) {
  const components = ComponentSet.fromSource(path.resolve(sourceDir));
  const found = components.getSourceComponents().toArray();
  for (const component of found) {
    console.log(`${component.type.name} ${component.fullName}`);
  }
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'billsync-mdapi-'));
  await new MetadataConverter().convert(components, 'metadata', {
    type: 'directory',
    outputDirectory: out,
    genUniqueDir: false,
  });
  console.log(fs.readFileSync(path.join(out, 'package.xml'), 'utf8'));
  fs.rmSync(out, { recursive: true, force: true });
}

main(process.argv[2] || 'force-app').catch((error) => {
  console.error(`${error.name}: ${error.message}`);
  process.exit(1);
});
