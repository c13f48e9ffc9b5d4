from snn_dfa.app.cli import main

raise SystemExit(main())
