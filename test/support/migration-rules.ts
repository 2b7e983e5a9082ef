import ts from 'typescript';

/** Migrations up to this one predate the rolling-upgrade rules (deploy/UPGRADING.md); upgrades across them stop every replica. */
export const RULES_START_AFTER = '0034_connection_refresh_claims';

/** Schema builder calls that take away what the previous release may still read or write. */
const REMOVING = new Set([
  'dropTable',
  'dropTableIfExists',
  'dropColumn',
  'dropColumns',
  'renameColumn',
  'renameTable',
  'dropNullable',
  'alter',
  'dropPrimary',
  'dropForeign',
  'dropUnique',
  'dropChecks',
]);
/** The same in SQL given to `raw`. */
const REMOVING_SQL = /\b(drop\s+(table|column|view)|rename\s+(to|column)|alter\s+column\s+\S+\s+(type|set\s+not\s+null)|set\s+not\s+null)\b/i;

const calledName = (call: ts.CallExpression) => (ts.isPropertyAccessExpression(call.expression) ? call.expression.name.text : undefined);

/** Every call of a chain such as `t.text('x').notNullable().defaultTo('')`, innermost first. */
function chainNames(call: ts.CallExpression): string[] {
  const names: string[] = [];
  let node: ts.Expression = call;
  while (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression)) {
    names.unshift(node.expression.name.text);
    node = node.expression.expression;
  }
  return names;
}

/**
 * What in a migration's `up` (and the helpers beside it) would break the release before it while both run on one database: a
 * removal or rename (allowed only in a migration that exports `contract`, the second step of a
 * two-step removal saying why the previous release no longer uses it), a column added to an existing
 * table as NOT NULL without a default (the old release's inserts leave it out), SQL doing the same.
 */
export function migrationRuleViolations(source: string, file = 'migration.ts'): string[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const exported = (name: string) =>
    sf.statements.find(
      (s) =>
        (ts.isFunctionDeclaration(s) && s.name?.text === name) ||
        (ts.isVariableStatement(s) && s.declarationList.declarations.some((d) => ts.isIdentifier(d.name) && d.name.text === name)),
    );
  const up = exported('up');
  if (!up) return [`${file}: no exported up()`];
  const contract = exported('contract') !== undefined;
  const problems: string[] = [];
  const at = (node: ts.Node) => `${file}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;

  const visit = (node: ts.Node, inAlterTable: boolean) => {
    if (ts.isCallExpression(node)) {
      const name = calledName(node);
      if (name && REMOVING.has(name) && !contract)
        problems.push(`${at(node)}: ${name}() removes or changes what the previous release uses; export \`contract\` in the second step of a two-step removal`);
      if (name === 'raw') {
        const sql = node.arguments[0];
        if (
          sql &&
          (ts.isStringLiteral(sql) || ts.isNoSubstitutionTemplateLiteral(sql) || ts.isTemplateExpression(sql)) &&
          REMOVING_SQL.test(sql.getText()) &&
          !contract
        ) {
          problems.push(`${at(node)}: raw SQL removes or changes what the previous release uses; export \`contract\` in the second step of a two-step removal`);
        }
      }
      if (inAlterTable) {
        const chain = chainNames(node);
        const outermost = !(ts.isPropertyAccessExpression(node.parent) && ts.isCallExpression(node.parent.parent));
        if (outermost && chain.includes('notNullable') && !chain.includes('defaultTo')) {
          problems.push(`${at(node)}: a column added NOT NULL without a default: the previous release's inserts leave it out`);
        }
      }
      if (name === 'alterTable' || name === 'table') {
        for (const arg of node.arguments) ts.forEachChild(arg, (child) => visit(child, true));
        ts.forEachChild(node.expression, (child) => visit(child, inAlterTable));
        return;
      }
    }
    ts.forEachChild(node, (child) => visit(child, inAlterTable));
  };
  // `up` and whatever it calls: every statement of the module but `down`.
  for (const statement of sf.statements) if (statement !== exported('down')) visit(statement, false);
  return problems;
}
