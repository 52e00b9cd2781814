"""README.md's generated sections equal the docs/ files they show (experiments/readme.py)."""

import os

from experiments import readme


def test_readme_generated_sections_match_docs():
  with open(readme.README) as f:
    text = f.read()
  assert text.count('<!-- BEGIN docs/') >= 7
  assert readme.stale_sections(text) == [], (
      'README.md differs from docs/; run python experiments/readme.py')


def test_the_check_notices_an_edited_table_and_render_repairs_it(tmp_path):
  os.makedirs(tmp_path / 'docs' / 'figures')
  (tmp_path / 'docs' / 't.md').write_text('# Title\n\n## Part\n\n| a |\n|---|\n| 1.5 |\n\n'
                                          '![grid](figures/g.png)\n')
  doc = ('<!-- BEGIN docs/t.md: generated -->\n#### Part\n\n| a |\n|---|\n| 1.5 |\n\n'
         '![grid](docs/figures/g.png)\n<!-- END docs/t.md -->\n')
  page = 'intro\n\n' + doc + '\nmore\n'
  assert readme.stale_sections(page, str(tmp_path)) == []
  edited = page.replace('| 1.5 |', '| 1.4 |')  # a number typed by hand
  assert readme.stale_sections(edited, str(tmp_path)) == ['docs/t.md']
  assert readme.render(edited, str(tmp_path)) == page
