module origintls.test/pqserver

go 1.24
